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
