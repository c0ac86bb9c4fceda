package resilience_test

import (
	"context"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/resilience"
)

func BenchmarkBreakerAllow(b *testing.B) {
	for _, bc := range []struct {
		name string
		edit func(*resilience.BreakerConfig)
	}{
		{"consecutive", func(c *resilience.BreakerConfig) { c.FailureRate = 0 }},
		{"count_window", func(*resilience.BreakerConfig) {}},
		{"time_window", func(c *resilience.BreakerConfig) { c.Window = resilience.WindowTime }},
		{"slow_calls", func(c *resilience.BreakerConfig) { c.SlowCallRate, c.SlowCallDuration = 0.5, time.Second }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := resilience.NewDefaultBreakerConfig()
			bc.edit(&cfg)
			br, err := resilience.NewBreaker(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p, err := br.Allow()
					if err != nil {
						b.Fatal(err)
					}
					p.Done(nil)
				}
			})
		})
	}
}

func BenchmarkBreakerRejectOpen(b *testing.B) {
	br, err := resilience.NewBreaker(consecutiveConfig(1))
	if err != nil {
		b.Fatal(err)
	}
	p, _ := br.Allow()
	p.Done(errBoom)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Allow(); err == nil {
			b.Fatal("allowed")
		}
	}
}

func BenchmarkExecutor(b *testing.B) {
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	r, _ := resilience.NewRetry(resilience.NewDefaultRetryConfig())
	br, _ := resilience.NewBreaker(resilience.NewDefaultBreakerConfig())
	bh, _ := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 64})
	rl, _ := resilience.NewRateLimiter(resilience.RateLimitConfig{Rate: 1e9, Burst: 1e6})
	for _, bc := range []struct {
		name     string
		policies []resilience.Policy
	}{
		{"none", nil},
		{"retry+breaker", []resilience.Policy{r, br}},
		{"retry+breaker+timeout", []resilience.Policy{r, br, resilience.NewTimeout(time.Minute)}},
		{"retry+breaker+bulkhead+ratelimit", []resilience.Policy{r, br, bh, rl}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ex, err := resilience.NewExecutor[int]("bench", bc.policies...)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ex.Execute(ctx, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkManagerExecute(b *testing.B) {
	m, err := resilience.NewManager(resilience.NewDefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Execute(ctx, "op", fn); err != nil {
			b.Fatal(err)
		}
	}
}
