package resiliencebench

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/sony/gobreaker/v2"

	"github.com/otlp-dev/otlp/resilience"
)

// The guarded call: a trivial success, so the benchmarks measure the guard alone.
var sink int

func work(context.Context) (int, error) { sink++; return sink, nil }

func workErr(context.Context) error { sink++; return nil }

// Equivalent settings for the three libraries: open after 5 consecutive failures, recover
// after 30s; retry 3 attempts with 100ms..5s backoff; 10s timeout per attempt.
const (
	threshold = 5
	recovery  = 30 * time.Second
	attempts  = 3
	perCall   = 10 * time.Second
)

func ourBreaker(b *testing.B, rate bool) *resilience.Breaker {
	cfg := resilience.NewDefaultBreakerConfig()
	cfg.FailureThreshold = threshold
	cfg.RecoveryTimeout = recovery
	if !rate {
		cfg.FailureRate = 0
	}
	br, err := resilience.NewBreaker(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

// BenchmarkBreaker: a breaker alone on the success path.
func BenchmarkBreaker(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=ours", func(b *testing.B) {
		br := ourBreaker(b, true)
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, workErr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=ours_consecutive", func(b *testing.B) {
		br := ourBreaker(b, false)
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, workErr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=ours_allow", func(b *testing.B) {
		br := ourBreaker(b, true)
		b.ReportAllocs()
		for b.Loop() {
			p, err := br.Allow()
			if err != nil {
				b.Fatal(err)
			}
			p.Done(workErr(ctx))
		}
	})
	b.Run("impl=gobreaker", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[int](gobreaker.Settings{
			Timeout:     recovery,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cb.Execute(func() (int, error) { return work(ctx) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=failsafe", func(b *testing.B) {
		cb := circuitbreaker.NewBuilder[int]().WithFailureThreshold(threshold).WithDelay(recovery).Build()
		ex := failsafe.With[int](cb).WithContext(ctx)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ex.Get(func() (int, error) { return work(ctx) }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkComposed: retry(breaker(timeout(call))) on the success path.
func BenchmarkComposed(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=ours", func(b *testing.B) {
		rcfg := resilience.NewDefaultRetryConfig()
		rcfg.MaxAttempts = attempts
		r, err := resilience.NewRetry(rcfg)
		if err != nil {
			b.Fatal(err)
		}
		ex, err := resilience.NewExecutor[int]("bench", r, ourBreaker(b, true), resilience.NewTimeout(perCall))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ex.Execute(ctx, work); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=ours_no_timeout", func(b *testing.B) {
		rcfg := resilience.NewDefaultRetryConfig()
		rcfg.MaxAttempts = attempts
		r, err := resilience.NewRetry(rcfg)
		if err != nil {
			b.Fatal(err)
		}
		ex, err := resilience.NewExecutor[int]("bench", r, ourBreaker(b, true))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ex.Execute(ctx, work); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=failsafe", func(b *testing.B) {
		rp := retrypolicy.NewBuilder[int]().WithMaxAttempts(attempts).
			WithBackoff(100*time.Millisecond, 5*time.Second).Build()
		cb := circuitbreaker.NewBuilder[int]().WithFailureThreshold(threshold).WithDelay(recovery).Build()
		to := timeout.New[int](perCall)
		ex := failsafe.With[int](rp, cb, to)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ex.WithContext(ctx).GetWithExecution(func(e failsafe.Execution[int]) (int, error) {
				return work(e.Context())
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTimeout: a timeout alone on the success path (not in bench/resilience.sh's ratio
// lines; it explains the composed figures).
func BenchmarkTimeout(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=ours", func(b *testing.B) {
		to := resilience.NewTimeout(perCall)
		b.ReportAllocs()
		for b.Loop() {
			if err := to.Execute(ctx, workErr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=ours_caller_deadline_first", func(b *testing.B) {
		to := resilience.NewTimeout(perCall)
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		b.ReportAllocs()
		for b.Loop() {
			if err := to.Execute(dctx, workErr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=context_with_timeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tctx, cancel := context.WithTimeout(ctx, perCall)
			_ = workErr(tctx)
			cancel()
		}
	})
	b.Run("impl=failsafe", func(b *testing.B) {
		ex := failsafe.With[int](timeout.New[int](perCall))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ex.WithContext(ctx).GetWithExecution(func(e failsafe.Execution[int]) (int, error) {
				return work(e.Context())
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
