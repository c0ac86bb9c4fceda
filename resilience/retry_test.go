package resilience_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/otlp-dev/otlp/resilience"
	"github.com/otlp-dev/otlp/resilience/resiliencetest"
)

func retryConfig() resilience.RetryConfig {
	cfg := resilience.NewDefaultRetryConfig()
	cfg.Jitter = 0
	cfg.MaxAttempts = 5
	cfg.MaxElapsed = 0
	cfg.BaseDelay = 100 * time.Millisecond
	cfg.MaxDelay = 300 * time.Millisecond
	cfg.Budget = resilience.BudgetConfig{}
	return cfg
}

func newRetry(t *testing.T, cfg resilience.RetryConfig, opts ...resilience.Option) *resilience.Retry {
	t.Helper()
	r, err := resilience.NewRetry(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// attempts records when each attempt started and fails the first n-1 of them with err.
type attempts struct {
	at   []time.Time
	fail int
	err  error
}

func (a *attempts) fn(context.Context) error {
	a.at = append(a.at, time.Now())
	if len(a.at) <= a.fail {
		return a.err
	}
	return nil
}

func (a *attempts) gaps() []time.Duration {
	var out []time.Duration
	for i := 1; i < len(a.at); i++ {
		out = append(out, a.at[i].Sub(a.at[i-1]))
	}
	return out
}

func TestRetryBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &attempts{fail: 10, err: errBoom}
		err := newRetry(t, retryConfig()).Execute(t.Context(), a.fn)
		if !errors.Is(err, resilience.ErrRetriesExhausted) || !errors.Is(err, errBoom) {
			t.Fatalf("err = %v, want ErrRetriesExhausted wrapping errBoom", err)
		}
		want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}
		if got := a.gaps(); !slicesEqual(got, want) {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	})
}

func TestRetrySucceedsAfterFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &eventLog{}
		r := newRetry(t, retryConfig(), resilience.WithObserver(obs), resilience.WithName("r"))
		a := &attempts{fail: 2, err: errBoom}
		if err := r.Execute(t.Context(), a.fn); err != nil {
			t.Fatal(err)
		}
		if len(a.at) != 3 || r.Metrics().Retries != 2 || len(obs.events) != 2 {
			t.Fatalf("attempts %d, metrics %+v, events %d", len(a.at), r.Metrics(), len(obs.events))
		}
		if e := obs.events[1]; e.Kind != resilience.EventRetry || e.Attempt != 2 || e.Delay != 200*time.Millisecond || e.Name != "r" {
			t.Errorf("event = %+v", e)
		}
	})
}

func TestRetryJitterBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := retryConfig()
		cfg.Jitter = 0.5
		cfg.MaxAttempts = 2
		cfg.MaxDelay = cfg.BaseDelay
		r := newRetry(t, cfg)
		seen := map[time.Duration]bool{}
		for range 50 {
			a := &attempts{fail: 1, err: errBoom}
			if err := r.Execute(t.Context(), a.fn); err != nil {
				t.Fatal(err)
			}
			d := a.gaps()[0]
			if d < 50*time.Millisecond || d > 150*time.Millisecond {
				t.Fatalf("wait %v outside [50ms, 150ms]", d)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("only %d distinct waits in 50 draws: no jitter?", len(seen))
		}
	})
}

func TestRetryStops(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		edit     func(*resilience.RetryConfig)
		attempts int
		is       error
	}{
		{"permanent", resilience.Permanent(errBoom), nil, 1, errBoom},
		{"non-retryable classified", resilience.ConfigurationError("load", errBoom), nil, 1, resilience.KindConfiguration},
		{"canceled", context.Canceled, nil, 1, context.Canceled},
		{"max attempts", errBoom, func(c *resilience.RetryConfig) { c.MaxAttempts = 2 }, 2, resilience.ErrRetriesExhausted},
		{"max elapsed", errBoom, func(c *resilience.RetryConfig) {
			c.MaxAttempts = 0
			c.MaxElapsed = 350 * time.Millisecond // 100 + 200 fit, then 300 does not
		}, 3, resilience.ErrRetriesExhausted},
		{"throttled beyond max elapsed", resilience.Throttled(errBoom, time.Hour), func(c *resilience.RetryConfig) {
			c.MaxElapsed = time.Minute
		}, 1, resilience.ErrRetriesExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := retryConfig()
				if tt.edit != nil {
					tt.edit(&cfg)
				}
				a := &attempts{fail: 100, err: tt.err}
				err := newRetry(t, cfg).Execute(t.Context(), a.fn)
				if len(a.at) != tt.attempts {
					t.Errorf("attempts = %d, want %d", len(a.at), tt.attempts)
				}
				if !errors.Is(err, tt.is) {
					t.Errorf("err = %v, want %v", err, tt.is)
				}
			})
		})
	}
}

func TestRetryHonoursThrottledDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &attempts{fail: 2, err: resilience.Throttled(errBoom, 2*time.Second)}
		if err := newRetry(t, retryConfig()).Execute(t.Context(), a.fn); err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{2 * time.Second, 2 * time.Second} // the floor beats 100ms and 200ms
		if got := a.gaps(); !slicesEqual(got, want) {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	})
}

func TestRetryCancelledWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := retryConfig()
		cfg.BaseDelay, cfg.MaxDelay = time.Minute, time.Minute
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		a := &attempts{fail: 100, err: errBoom}
		go func() { done <- newRetry(t, cfg).Execute(ctx, a.fn) }()
		synctest.Wait() // parked in the one-minute wait
		start := time.Now()
		cancel()
		err := <-done
		if time.Since(start) != 0 {
			t.Errorf("returned %v after the cancel", time.Since(start))
		}
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errBoom) {
			t.Fatalf("err = %v, want both context.Canceled and the last error", err)
		}
		if len(a.at) != 1 {
			t.Fatalf("attempts = %d", len(a.at))
		}
	})
}

func TestRetryStopsBeforeCallerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := retryConfig()
		cfg.BaseDelay, cfg.MaxDelay = time.Second, time.Second
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		a := &attempts{fail: 100, err: errBoom}
		start := time.Now()
		err := newRetry(t, cfg).Execute(ctx, a.fn)
		// Attempt 1 at 0s, attempt 2 at 1s; a third at 2s would be past the deadline.
		if len(a.at) != 2 || time.Since(start) != time.Second || !errors.Is(err, errBoom) {
			t.Fatalf("attempts %d, elapsed %v, err %v", len(a.at), time.Since(start), err)
		}
	})
}

func TestRetryBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := retryConfig()
		cfg.MaxAttempts = 2
		cfg.Budget = resilience.BudgetConfig{Ratio: 0.5, MinPerSecond: 0.1, Burst: 3}
		r := newRetry(t, cfg)
		run := func() error { return r.Execute(t.Context(), (&attempts{fail: 100, err: errBoom}).fn) }

		// The bucket starts full at its cap (3) and each call adds 0.5 before its retry takes
		// 1: calls 1-5 retry (3, 2.5, 2, 1.5, 1 tokens), call 6 finds only 0.5 (plus the few
		// hundredths that 0.1/s adds during the 100ms waits).
		for i := range 5 {
			if err := run(); !errors.Is(err, resilience.ErrRetriesExhausted) {
				t.Fatalf("call %d: %v, want a retried call", i+1, err)
			}
		}
		err := run()
		if !errors.Is(err, resilience.ErrRetryBudgetExhausted) || !errors.Is(err, errBoom) {
			t.Fatalf("call 6: %v, want ErrRetryBudgetExhausted wrapping the last error", err)
		}
		// An outage cannot multiply load: 100 more failing calls make at most 50 retries.
		before := r.Metrics().Retries
		for range 100 {
			_ = run()
		}
		if n := r.Metrics().Retries - before; n > 51 {
			t.Fatalf("%d retries for 100 calls with ratio 0.5", n)
		}
		if r.Metrics().BudgetRejected < 49 {
			t.Fatalf("budget rejections = %d", r.Metrics().BudgetRejected)
		}
		// Time refills the minimum: 0.1 per second.
		time.Sleep(30 * time.Second) // fake time: the bubble's clock jumps
		if err := run(); !errors.Is(err, resilience.ErrRetriesExhausted) {
			t.Fatalf("after 30s: %v", err)
		}
	})
}

// The same retry driven by a fake clock instead of a synctest bubble's time.
func TestRetryFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := resiliencetest.NewFakeClock(epoch)
		r := newRetry(t, retryConfig(), resilience.WithClock(clk))
		var calls int
		done := make(chan error)
		go func() {
			done <- r.Execute(t.Context(), func(context.Context) error {
				calls++
				if calls < 3 {
					return errBoom
				}
				return nil
			})
		}()
		for _, d := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
			synctest.Wait()
			if clk.Timers() != 1 {
				t.Fatalf("timers = %d, want the retry's wait", clk.Timers())
			}
			clk.Advance(d - time.Millisecond)
			synctest.Wait()
			if clk.Timers() != 1 {
				t.Fatal("the wait ended early")
			}
			clk.Advance(time.Millisecond)
		}
		if err := <-done; err != nil || calls != 3 {
			t.Fatalf("err %v after %d calls", err, calls)
		}
	})
}

func TestRetryConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*resilience.RetryConfig)
		key  string
	}{
		{"default", func(*resilience.RetryConfig) {}, ""},
		{"unbounded", func(c *resilience.RetryConfig) { c.MaxAttempts, c.MaxElapsed = 0, 0 }, "max_attempts"},
		{"negative attempts", func(c *resilience.RetryConfig) { c.MaxAttempts = -1 }, "max_attempts"},
		{"max below base", func(c *resilience.RetryConfig) { c.MaxDelay = time.Millisecond }, "max_delay"},
		{"multiplier", func(c *resilience.RetryConfig) { c.Multiplier = 0.5 }, "multiplier"},
		{"jitter", func(c *resilience.RetryConfig) { c.Jitter = 2 }, "jitter"},
		{"budget burst", func(c *resilience.RetryConfig) { c.Budget.Burst = 0 }, "budget.burst"},
		{"budget ratio", func(c *resilience.RetryConfig) { c.Budget.Ratio = -1 }, "budget.ratio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := resilience.NewDefaultRetryConfig()
			tt.edit(&cfg)
			checkKey(t, cfg.Validate(), tt.key)
		})
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
