package memlimit

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRefusesOverSoftLimitAndRecovers(t *testing.T) {
	var used atomic.Uint64
	ticks := make(chan time.Time)
	var passed atomic.Int64
	next := pipeline.ConsumerFunc(func(_ context.Context, b pipeline.Batch) error {
		passed.Add(int64(b.Items))
		return nil
	})
	cfg := NewDefaultConfig()
	cfg.LimitMiB, cfg.SpikeLimitMiB, cfg.SetGoMemLimit = 100, 20, false
	l, err := New(cfg, Settings{ReadMemory: used.Load, Ticks: ticks}, next)
	if err != nil {
		t.Fatal(err)
	}
	used.Store(10 << 20)
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer l.Shutdown(context.Background())
	b := pipeline.Batch{Signal: pipeline.SignalTraces, Body: []byte{0x0a, 0x00}, Items: 3}
	if err := l.Consume(context.Background(), b); err != nil {
		t.Fatalf("under the limit: %v", err)
	}
	used.Store(81 << 20) // over soft (80 MiB), under hard
	ticks <- time.Time{}
	ticks <- time.Time{} // the second send returns only after the first check finished
	err = l.Consume(context.Background(), b)
	if err == nil {
		t.Fatal("over the soft limit: want a refusal")
	}
	if d, ok := resilience.RetryAfter(err); !ok || d != cfg.RetryAfter {
		t.Fatalf("refusal must be throttled with retry_after %s, got %v (%v)", cfg.RetryAfter, d, err)
	}
	used.Store(50 << 20)
	ticks <- time.Time{}
	ticks <- time.Time{}
	if err := l.Consume(context.Background(), b); err != nil {
		t.Fatalf("back under the limit: %v", err)
	}
	if got := passed.Load(); got != 6 {
		t.Fatalf("passed %d items, want 6", got)
	}
}

func TestValidate(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"limit_mib":       func(c *Config) { c.LimitMiB = 0 },
		"spike_limit_mib": func(c *Config) { c.SpikeLimitMiB = c.LimitMiB },
		"check_interval":  func(c *Config) { c.CheckInterval = 0 },
	} {
		c := NewDefaultConfig()
		mut(&c)
		err := c.Validate()
		if err == nil || len(err.Error()) < len(name) || err.Error()[:len(name)] != name {
			t.Errorf("%s: got %v, want an error naming the key", name, err)
		}
	}
	if err := NewDefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestFreesMemoryWhileSoftLimited: over the soft limit the limiter collects and returns free
// memory to the OS (at most every 10s), so that a spike that is over does not keep it refusing
// while the runtime slowly gives pages back.
func TestFreesMemoryWhileSoftLimited(t *testing.T) {
	var used atomic.Uint64
	var frees atomic.Int64
	ticks := make(chan time.Time)
	cfg := NewDefaultConfig()
	cfg.LimitMiB, cfg.SpikeLimitMiB, cfg.SetGoMemLimit = 100, 20, false
	garbage := uint64(30 << 20) // freed by the next collection
	l, err := New(cfg, Settings{ReadMemory: used.Load, Ticks: ticks, FreeMemory: func() {
		frees.Add(1)
		used.Add(-garbage)
		garbage = 0
	}}, pipeline.ConsumerFunc(func(context.Context, pipeline.Batch) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	used.Store(10 << 20)
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer l.Shutdown(context.Background())
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	used.Store(85 << 20) // over soft (80 MiB): 30 MiB of it garbage
	ticks <- t0
	ticks <- t0 // returns once the first check finished
	if frees.Load() != 1 || l.Refusing() {
		t.Fatalf("after a check over the soft limit: %d frees, refusing %v; want one free and accepting (55 MiB)", frees.Load(), l.Refusing())
	}
	used.Store(85 << 20) // over again, with no garbage left
	ticks <- t0.Add(time.Second)
	if frees.Load() != 1 || !l.Refusing() {
		t.Fatalf("1s later: %d frees, refusing %v; want no second free within 10s, and refusing", frees.Load(), l.Refusing())
	}
	ticks <- t0.Add(11 * time.Second)
	ticks <- t0.Add(11 * time.Second)
	if frees.Load() != 2 {
		t.Fatalf("11s later: %d frees, want 2", frees.Load())
	}
}
