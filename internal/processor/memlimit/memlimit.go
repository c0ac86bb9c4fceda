// Package memlimit refuses data while the process is over its memory budget, so that senders
// back off (429 / RESOURCE_EXHAUSTED with a retry delay) instead of the process growing until the
// kernel kills it.
package memlimit

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// Config is the [processors.memory_limiter] section.
type Config struct {
	// LimitMiB is the hard limit of Go-managed memory. Over it the limiter forces a GC.
	LimitMiB int `toml:"limit_mib"`
	// SpikeLimitMiB is the headroom kept for bursts: data is refused above LimitMiB-SpikeLimitMiB.
	// 0 means 20% of LimitMiB.
	SpikeLimitMiB int `toml:"spike_limit_mib"`
	// CheckInterval is how often memory use is read.
	CheckInterval time.Duration `toml:"check_interval"`
	// RetryAfter is the delay suggested to refused senders.
	RetryAfter time.Duration `toml:"retry_after"`
	// SetGoMemLimit also sets the Go runtime's soft memory limit to LimitMiB, so the collector
	// works harder before the limiter needs to refuse anything.
	SetGoMemLimit bool `toml:"set_go_memlimit"`
}

// NewDefaultConfig returns a 512 MiB limit checked every 100ms.
func NewDefaultConfig() Config {
	return Config{LimitMiB: 512, CheckInterval: 100 * time.Millisecond, RetryAfter: time.Second, SetGoMemLimit: true}
}

// Validate reports the first invalid key.
func (c Config) Validate() error {
	switch {
	case c.LimitMiB <= 0:
		return fmt.Errorf("limit_mib: must be > 0, got %d", c.LimitMiB)
	case c.SpikeLimitMiB < 0 || c.SpikeLimitMiB >= c.LimitMiB:
		return fmt.Errorf("spike_limit_mib: must be in [0, limit_mib=%d), got %d", c.LimitMiB, c.SpikeLimitMiB)
	case c.CheckInterval <= 0:
		return fmt.Errorf("check_interval: must be > 0, got %s", c.CheckInterval)
	case c.RetryAfter < 0:
		return fmt.Errorf("retry_after: must be >= 0, got %s", c.RetryAfter)
	}
	return nil
}

// Settings are injected by the server.
type Settings struct {
	Name    string
	Logger  *slog.Logger
	Metrics *selftel.Metrics
	// ReadMemory returns the bytes in use; nil reads the Go runtime's mapped, unreleased memory.
	ReadMemory func() uint64
	// Ticks drives the checks; nil uses a time.Ticker of CheckInterval. Tests send on it.
	Ticks <-chan time.Time
}

// Limiter is a pipeline stage in front of the batcher.
type Limiter struct {
	cfg     Config
	set     Settings
	next    pipeline.Consumer
	soft    uint64
	hard    uint64
	over    atomic.Bool
	inUse   atomic.Uint64
	refused atomic.Uint64

	mu        sync.Mutex
	cancel    context.CancelFunc // guarded by mu
	done      chan struct{}      // guarded by mu
	prevLimit int64              // guarded by mu; the runtime limit to restore at Shutdown
}

// New returns a limiter in front of next.
func New(cfg Config, set Settings, next pipeline.Consumer) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("memory_limiter: %w", err)
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.ReadMemory == nil {
		set.ReadMemory = goMemory
	}
	spike := cfg.SpikeLimitMiB
	if spike == 0 {
		spike = cfg.LimitMiB / 5
	}
	return &Limiter{
		cfg: cfg, set: set, next: next,
		hard: uint64(cfg.LimitMiB) << 20,
		soft: uint64(cfg.LimitMiB-spike) << 20,
	}, nil
}

// goMemory reads the memory the Go runtime holds from the OS and has not released.
func goMemory() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// Start begins the periodic checks.
func (l *Limiter) Start(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return nil
	}
	if l.cfg.SetGoMemLimit {
		l.prevLimit = debug.SetMemoryLimit(int64(l.hard))
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	ticks := l.set.Ticks
	var ticker *time.Ticker
	if ticks == nil {
		ticker = time.NewTicker(l.cfg.CheckInterval)
		ticks = ticker.C
	}
	l.check()
	go func(done chan struct{}) {
		defer close(done)
		if ticker != nil {
			defer ticker.Stop()
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticks:
				l.check()
			}
		}
	}(l.done)
	return nil
}

// check reads memory use and updates the refusing state.
func (l *Limiter) check() {
	used := l.set.ReadMemory()
	if used >= l.hard {
		runtime.GC()
		used = l.set.ReadMemory()
	}
	l.inUse.Store(used)
	was := l.over.Load()
	now := used >= l.soft
	if was != now {
		l.over.Store(now)
		if now {
			l.set.Logger.Warn("memory over the soft limit: refusing data", "used_mib", used>>20, "soft_limit_mib", l.soft>>20, "limit_mib", l.hard>>20)
		} else {
			l.set.Logger.Info("memory back under the soft limit: accepting data", "used_mib", used>>20, "refused_items", l.refused.Load())
		}
	}
}

// Refusing reports whether the limiter currently refuses data.
func (l *Limiter) Refusing() bool { return l.over.Load() }

// Consume passes b on, or refuses it with a Throttled error while over the soft limit.
func (l *Limiter) Consume(ctx context.Context, b pipeline.Batch) error {
	if l.over.Load() {
		l.refused.Add(uint64(b.Items))
		l.set.Metrics.Refused(b.Signal, selftel.ReasonMemoryLimit, b.Items)
		return resilience.Throttled(fmt.Errorf("memory_limiter %s: %d MiB in use, over the soft limit of %d MiB", l.set.Name, l.inUse.Load()>>20, l.soft>>20), l.cfg.RetryAfter)
	}
	return l.next.Consume(ctx, b)
}

// Shutdown stops the checks. Idempotent.
func (l *Limiter) Shutdown(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		l.cancel()
		<-l.done
		l.cancel = nil
		if l.cfg.SetGoMemLimit {
			debug.SetMemoryLimit(l.prevLimit)
		}
	}
	return nil
}
