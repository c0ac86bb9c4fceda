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

func TestExecutorOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// retry(breaker(call)): the breaker sees every attempt; once it opens, the retry waits
		// for the recovery timeout (the rejection is Throttled) and the trial succeeds.
		rcfg := retryConfig()
		rcfg.MaxAttempts = 4
		rcfg.MaxElapsed = time.Minute
		r := newRetry(t, rcfg)
		bcfg := consecutiveConfig(2)
		br, err := resilience.NewBreaker(bcfg)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := resilience.NewExecutor[int]("op", r, br)
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		start := time.Now()
		v, err := ex.Execute(t.Context(), func(context.Context) (int, error) {
			calls++
			if calls <= 2 {
				return 0, errBoom
			}
			return 42, nil
		})
		if err != nil || v != 42 {
			t.Fatalf("got %v, %v", v, err)
		}
		// Attempt 1 fails, attempt 2 fails and opens, attempt 3 is rejected and retried after
		// the 10s recovery, attempt 4 is the successful trial.
		if calls != 3 || time.Since(start) != 100*time.Millisecond+10*time.Second {
			t.Fatalf("calls %d after %v", calls, time.Since(start))
		}
		m := ex.Metrics()
		if m.Calls != 1 || m.Successes != 1 || m.Retries != 3 || m.Breaker == nil ||
			m.Breaker.State != resilience.StateClosed || m.Breaker.Transitions[resilience.StateOpen] != 1 {
			t.Fatalf("metrics = %+v, breaker %+v", m, m.Breaker)
		}
	})
}

func TestExecutorTimeoutPerAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := retryConfig()
		cfg.MaxAttempts = 3
		ex, err := resilience.NewExecutor[string]("op", newRetry(t, cfg), resilience.NewTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		v, err := ex.Execute(t.Context(), func(ctx context.Context) (string, error) {
			calls++
			if calls == 1 {
				<-ctx.Done() // the first attempt hangs until its timeout
				return "", ctx.Err()
			}
			return "ok", nil
		})
		if err != nil || v != "ok" || calls != 2 {
			t.Fatalf("got %q, %v after %d calls", v, err, calls)
		}
		if m := ex.Metrics(); m.Timeouts != 1 || m.Retries != 1 {
			t.Fatalf("metrics = %+v", m)
		}
	})
}

func TestExecutorRejectionsAndMetrics(t *testing.T) {
	br, _ := newBreaker(t, consecutiveConfig(1))
	ex, err := resilience.NewExecutor[struct{}]("op", br)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = ex.Run(ctx, func(context.Context) error { return errBoom })
	for range 3 {
		if err := ex.Run(ctx, func(context.Context) error { return nil }); !errors.Is(err, resilience.ErrOpen) {
			t.Fatalf("err = %v", err)
		}
	}
	m := ex.Metrics()
	if m.Name != "op" || m.Calls != 4 || m.Failures != 1 || m.Rejected != 3 || m.RejectedCircuitOpen != 3 || m.SuccessRate != 0 {
		t.Fatalf("metrics = %+v", m)
	}
}

func TestNewExecutorErrors(t *testing.T) {
	r := newRetry(t, retryConfig())
	tests := []struct {
		name     string
		policies []resilience.Policy
	}{
		{"nil policy", []resilience.Policy{nil}},
		{"duplicate", []resilience.Policy{r, r}},
		{"fallback not first", []resilience.Policy{r, resilience.FallbackSkip[int]()}},
		{"fallback of another type", []resilience.Policy{resilience.FallbackSkip[string]()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := resilience.NewExecutor[int]("op", tt.policies...); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestFallbackStrategies(t *testing.T) {
	ctx := context.Background()
	failing := func(context.Context) (string, error) { return "", errBoom }
	tests := []struct {
		name     string
		fb       *resilience.Fallback[string]
		want     string
		wantErr  error
		strategy resilience.Strategy
	}{
		{"backup", resilience.FallbackBackup(func(context.Context) (string, error) { return "backup", nil }), "backup", nil, resilience.StrategyBackup},
		{"reduce", resilience.FallbackReduce(func(context.Context) (string, error) { return "low-res", nil }), "low-res", nil, resilience.StrategyReduce},
		{"skip", resilience.FallbackSkip[string](), "", nil, resilience.StrategySkip},
		{"cache without a value", resilience.FallbackCache[string](0), "", errBoom, resilience.StrategyCache},
		{"custom sees the error", resilience.NewFallback(func(_ context.Context, err error) (string, error) {
			return "saw " + err.Error(), nil
		}), "saw boom", nil, resilience.StrategyCustom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.fb.Execute(ctx, failing)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if tt.fb.Strategy() != tt.strategy || tt.fb.Served() != 1 {
				t.Fatalf("strategy %v, served %d", tt.fb.Strategy(), tt.fb.Served())
			}
		})
	}
	t.Run("cancellation does not fall back", func(t *testing.T) {
		fb := resilience.FallbackSkip[string]()
		if _, err := fb.Execute(ctx, func(context.Context) (string, error) { return "", context.Canceled }); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestFallbackCacheOnOpenBreaker(t *testing.T) {
	clk := resiliencetest.NewFakeClock(epoch)
	br, err := resilience.NewBreaker(consecutiveConfig(1), resilience.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	obs := &eventLog{}
	fb := resilience.FallbackCache[int](time.Minute, resilience.WithClock(clk), resilience.WithObserver(obs))
	ex, err := resilience.NewExecutor[int]("op", fb, br)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v, err := ex.Execute(ctx, func(context.Context) (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Fatal(v, err)
	}
	// The failure opens the breaker; both it and the rejection that follows get the cached 7.
	for i := range 2 {
		v, err := ex.Execute(ctx, func(context.Context) (int, error) { return 0, errBoom })
		if v != 7 || err != nil {
			t.Fatalf("call %d: %v, %v; want the cached 7", i, v, err)
		}
	}
	if m := ex.Metrics(); m.Fallbacks != 2 || m.Failures != 1 || m.Rejected != 1 {
		t.Fatalf("metrics %+v", m)
	}
	// Too old: the error (of the half-open trial) comes through.
	clk.Advance(time.Minute)
	if _, err := ex.Execute(ctx, func(context.Context) (int, error) { return 0, errBoom }); !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want the call's error once the cache is stale", err)
	}
	if len(obs.events) != 3 || obs.events[0].Kind != resilience.EventFallback || obs.events[0].Reason != "cache" {
		t.Fatalf("events %+v", obs.events)
	}
}

func TestDegrader(t *testing.T) {
	clk := resiliencetest.NewFakeClock(epoch)
	cfg := resilience.DegradeConfig{ErrorRate: 0.5, Latency: time.Second, Window: 10 * time.Second, MinCalls: 4}
	obs := &eventLog{}
	d, err := resilience.NewDegrader(cfg, nil, resilience.WithClock(clk), resilience.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	fb := resilience.FallbackReduce(func(context.Context) (string, error) { return "reduced", nil },
		resilience.WithDegrader(d))
	ex, err := resilience.NewExecutor[string]("op", fb)
	if err != nil {
		t.Fatal(err)
	}
	primaryCalls := 0
	run := func(err error) string {
		v, _ := ex.Execute(context.Background(), func(context.Context) (string, error) {
			primaryCalls++
			if err != nil {
				return "", err
			}
			return "full", nil
		})
		return v
	}
	// Two failures in four calls: degraded at the next evaluation.
	run(nil)
	run(errBoom)
	run(nil)
	run(errBoom)
	clk.Advance(time.Second) // evaluations happen at most once per bucket (1s)
	if got := run(nil); got != "reduced" || !d.Degraded() || d.Reason() != "error_rate" {
		t.Fatalf("got %q, degraded %v (%s)", got, d.Degraded(), d.Reason())
	}
	n := primaryCalls
	run(nil)
	if primaryCalls != n {
		t.Fatal("the primary ran while degraded")
	}
	// Once the window has aged out, the primary is probed again.
	clk.Advance(11 * time.Second)
	if got := run(nil); got != "full" || d.Degraded() {
		t.Fatalf("got %q after the window aged out", got)
	}
	if len(obs.events) != 2 || !obs.events[0].Degraded || obs.events[1].Degraded {
		t.Fatalf("events %+v", obs.events)
	}
}

func TestDegraderTriggers(t *testing.T) {
	tests := []struct {
		name     string
		cfg      resilience.DegradeConfig
		resource float64
		latency  time.Duration
		reason   string
	}{
		{"latency", resilience.DegradeConfig{Latency: time.Second, Window: 10 * time.Second, MinCalls: 2}, 0, 2 * time.Second, "latency"},
		{"fast enough", resilience.DegradeConfig{Latency: time.Second, Window: 10 * time.Second, MinCalls: 2}, 0, 500 * time.Millisecond, ""},
		{"resource", resilience.DegradeConfig{Resource: 0.9, Window: 10 * time.Second}, 0.95, 0, "resource"},
		{"resource below", resilience.DegradeConfig{Resource: 0.9, Window: 10 * time.Second}, 0.5, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := resiliencetest.NewFakeClock(epoch)
			d, err := resilience.NewDegrader(tt.cfg, func() float64 { return tt.resource }, resilience.WithClock(clk))
			if err != nil {
				t.Fatal(err)
			}
			d.Record(nil, tt.latency)
			d.Record(nil, tt.latency)
			clk.Advance(time.Second)
			if got := d.Degraded(); got != (tt.reason != "") || d.Reason() != tt.reason {
				t.Fatalf("degraded %v (%q), want reason %q", got, d.Reason(), tt.reason)
			}
		})
	}
	t.Run("hysteresis", func(t *testing.T) {
		clk := resiliencetest.NewFakeClock(epoch)
		use := 0.95
		d, err := resilience.NewDegrader(resilience.DegradeConfig{Resource: 0.9, Window: 10 * time.Second},
			func() float64 { return use }, resilience.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			use  float64
			want bool
		}{{0.95, true}, {0.85, true}, {0.73, true}, {0.71, false}, {0.85, false}, {0.9, true}}
		for _, s := range steps {
			use = s.use
			clk.Advance(time.Second)
			if got := d.Degraded(); got != s.want {
				t.Fatalf("at %.2f: degraded %v, want %v", s.use, got, s.want)
			}
		}
	})
}

func TestExecutorAllocs(t *testing.T) {
	r := newRetry(t, resilience.NewDefaultRetryConfig())
	br, err := resilience.NewBreaker(resilience.NewDefaultBreakerConfig())
	if err != nil {
		t.Fatal(err)
	}
	bh, err := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 4})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := resilience.NewExecutor[int]("op", r, br, bh)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	if n := testing.AllocsPerRun(100, func() { _, _ = ex.Execute(ctx, fn) }); n != 0 {
		t.Errorf("retry+breaker+bulkhead success path: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = br.Execute(ctx, func(context.Context) error { return nil }) }); n != 0 {
		t.Errorf("breaker success path: %v allocs, want 0", n)
	}
}
