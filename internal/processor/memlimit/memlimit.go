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
	// Ticks drives the checks; nil uses a time.Ticker of CheckInterval. Tests send on it; the
	// time sent is the check's time.
	Ticks <-chan time.Time
	// FreeMemory collects garbage and returns free memory to the OS while over the soft limit;
	// nil: debug.FreeOSMemory.
	FreeMemory func()
	// GoLimit owns the Go runtime's memory limit when set_go_memlimit is on. The process has one
	// limit, and limiters come and go (one per pipeline, new ones at each reload): give every
	// limiter of a process the same GoLimit. nil: the limiter uses one of its own.
	GoLimit *GoLimit
}

// GoLimit owns the Go runtime's memory limit for the limiters that claim it: the runtime gets
// the smallest claim, and the limit from before the first claim returns once the last claim is
// released, in whatever order limiters start and stop (a reload starts the new ones before
// the old ones stop).
type GoLimit struct {
	set func(int64) int64 // debug.SetMemoryLimit

	mu     sync.Mutex
	claims map[*Limiter]int64 // guarded by mu
	orig   int64              // guarded by mu; the limit before the first claim
}

// NewGoLimit returns an owner of the runtime's memory limit.
func NewGoLimit() *GoLimit { return &GoLimit{set: debug.SetMemoryLimit} }

func (g *GoLimit) claim(l *Limiter, limit int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.claims) == 0 {
		g.orig = g.set(-1) // a negative value reads the limit without changing it
		g.claims = map[*Limiter]int64{}
	}
	g.claims[l] = limit
	g.applyLocked()
}

func (g *GoLimit) release(l *Limiter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.claims[l]; !ok {
		return
	}
	delete(g.claims, l)
	g.applyLocked()
}

func (g *GoLimit) applyLocked() {
	if len(g.claims) == 0 {
		g.set(g.orig)
		return
	}
	lowest := int64(-1)
	for _, v := range g.claims {
		if lowest < 0 || v < lowest {
			lowest = v
		}
	}
	g.set(lowest)
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
	// lastFree is when memory was last collected and returned; only the checks use it.
	lastFree time.Time

	mu     sync.Mutex
	cancel context.CancelFunc // guarded by mu
	done   chan struct{}      // guarded by mu
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
	if set.FreeMemory == nil {
		set.FreeMemory = debug.FreeOSMemory
	}
	if set.GoLimit == nil {
		set.GoLimit = NewGoLimit()
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
		l.set.GoLimit.claim(l, int64(l.hard))
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	ticks := l.set.Ticks
	var ticker *time.Ticker
	if ticks == nil {
		ticker = time.NewTicker(l.cfg.CheckInterval)
		ticks = ticker.C
	}
	l.check(time.Now())
	go func(done chan struct{}) {
		defer close(done)
		if ticker != nil {
			defer ticker.Stop()
		}
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-ticks:
				l.check(now)
			}
		}
	}(l.done)
	return nil
}

// softFreeInterval spaces the collections forced while over the soft limit: without them the
// memory the limiter reads (held from the OS) stays high long after a spike is gone, as the
// runtime returns free pages slowly, and data is refused for minutes (the Collector's limiter
// forces a GC every 10s while soft-limited, too).
const softFreeInterval = 10 * time.Second

// check reads memory use at now and updates the refusing state.
func (l *Limiter) check(now time.Time) {
	used := l.set.ReadMemory()
	switch {
	case used >= l.hard:
		runtime.GC()
		used = l.set.ReadMemory()
	case used >= l.soft && (l.lastFree.IsZero() || now.Sub(l.lastFree) >= softFreeInterval):
		l.set.FreeMemory()
		l.lastFree = now
		used = l.set.ReadMemory()
	}
	l.inUse.Store(used)
	was := l.over.Load()
	over := used >= l.soft
	if was != over {
		l.over.Store(over)
		if over {
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
		l.set.GoLimit.release(l)
	}
	return nil
}
