package resilience_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/resilience"
	"github.com/otlp-dev/otlp/resilience/resiliencetest"
)

var (
	errBoom = errors.New("boom")
	epoch   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// eventLog records observer events; safe for concurrent use.
type eventLog struct {
	mu     sync.Mutex
	events []resilience.Event
}

func (l *eventLog) Observe(e resilience.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) transitions() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		if e.Kind == resilience.EventStateChange {
			out = append(out, e.From.String()+"->"+e.To.String())
		}
	}
	return out
}

func consecutiveConfig(n int) resilience.BreakerConfig {
	cfg := resilience.NewDefaultBreakerConfig()
	cfg.FailureThreshold = n
	cfg.FailureRate = 0
	cfg.RecoveryTimeout = 10 * time.Second
	cfg.TrialTimeout = 5 * time.Second
	return cfg
}

func newBreaker(t *testing.T, cfg resilience.BreakerConfig, opts ...resilience.Option) (*resilience.Breaker, *resiliencetest.FakeClock) {
	t.Helper()
	clk := resiliencetest.NewFakeClock(epoch)
	b, err := resilience.NewBreaker(cfg, append([]resilience.Option{resilience.WithClock(clk), resilience.WithName("b")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b, clk
}

// call makes one call through Allow/Done and reports whether it was allowed.
func call(b *resilience.Breaker, err error) bool {
	p, aerr := b.Allow()
	if aerr != nil {
		return false
	}
	p.Done(err)
	return true
}

func wantState(t *testing.T, b *resilience.Breaker, want resilience.State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state = %v, want %v", got, want)
	}
}

func TestBreakerConsecutiveFailures(t *testing.T) {
	b, _ := newBreaker(t, consecutiveConfig(3))
	call(b, errBoom)
	call(b, errBoom)
	call(b, nil) // a success resets the run
	call(b, errBoom)
	call(b, errBoom)
	wantState(t, b, resilience.StateClosed)
	call(b, errBoom)
	wantState(t, b, resilience.StateOpen)
	_, err := b.Allow()
	if !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("Allow on open = %v, want ErrOpen", err)
	}
	if d, ok := resilience.RetryAfter(err); !ok || d != 10*time.Second {
		t.Errorf("RetryAfter = %v, %v; want the 10s recovery timeout", d, ok)
	}
	if reason, ok := resilience.IsRejected(err); !ok || reason != resilience.ReasonCircuitOpen {
		t.Errorf("IsRejected = %q, %v", reason, ok)
	}
	if m := b.Metrics(); m.Rejected != 1 || m.Transitions[resilience.StateOpen] != 1 {
		t.Errorf("metrics = %+v", m)
	}
}

func TestBreakerIgnoresCancellationAndPermanentErrors(t *testing.T) {
	b, _ := newBreaker(t, consecutiveConfig(2))
	for range 10 {
		call(b, context.Canceled)
		call(b, resilience.Permanent(errBoom))
	}
	wantState(t, b, resilience.StateClosed)

	custom, _ := newBreaker(t, consecutiveConfig(2), resilience.WithFailurePredicate(func(err error) bool {
		return !errors.Is(err, errBoom)
	}))
	call(custom, errBoom)
	call(custom, errBoom)
	wantState(t, custom, resilience.StateClosed)
}

func TestBreakerCountWindow(t *testing.T) {
	cfg := resilience.NewDefaultBreakerConfig()
	cfg.FailureThreshold = 0
	cfg.FailureRate = 0.5
	cfg.WindowSize = 10
	cfg.MinimumCalls = 6

	t.Run("minimum calls", func(t *testing.T) {
		b, _ := newBreaker(t, cfg)
		for range 5 {
			call(b, errBoom) // 5 of 5 failed, but fewer than 6 calls
		}
		wantState(t, b, resilience.StateClosed)
		call(b, errBoom)
		wantState(t, b, resilience.StateOpen)
	})
	t.Run("rate boundary", func(t *testing.T) {
		b, _ := newBreaker(t, cfg)
		for range 6 {
			call(b, nil)
		}
		for range 4 {
			call(b, errBoom) // 4/10
		}
		wantState(t, b, resilience.StateClosed)
		call(b, errBoom) // slides out a success: 5/10 = 0.5
		wantState(t, b, resilience.StateOpen)
	})
	t.Run("old failures slide out", func(t *testing.T) {
		b, _ := newBreaker(t, cfg)
		for range 4 {
			call(b, errBoom)
		}
		for range 10 {
			call(b, nil) // the four failures leave the window one by one
		}
		if m := b.Metrics(); m.Calls != 10 || m.Failures != 0 {
			t.Fatalf("window = %d calls, %d failures; want 10, 0", m.Calls, m.Failures)
		}
		for range 4 {
			call(b, errBoom)
		}
		wantState(t, b, resilience.StateClosed)
		if m := b.Metrics(); m.Failures != 4 {
			t.Fatalf("failures = %d, want 4", m.Failures)
		}
	})
}

func TestBreakerTimeWindowSlidesBucketByBucket(t *testing.T) {
	cfg := resilience.NewDefaultBreakerConfig()
	cfg.FailureThreshold = 0
	cfg.FailureRate = 0.5
	cfg.Window = resilience.WindowTime
	cfg.WindowDuration = 10 * time.Second
	cfg.WindowBuckets = 10
	cfg.MinimumCalls = 4
	b, clk := newBreaker(t, cfg)

	// t=0s: 3 failures. t=5s: 4 successes (3/7 failed).
	for range 3 {
		call(b, errBoom)
	}
	clk.Advance(5 * time.Second)
	for range 4 {
		call(b, nil)
	}
	if m := b.Metrics(); m.Calls != 7 || m.Failures != 3 {
		t.Fatalf("window = %+v", m)
	}
	// t=9.9s: still inside the window.
	clk.Advance(4900 * time.Millisecond)
	if m := b.Metrics(); m.Calls != 7 {
		t.Fatalf("calls = %d before the first bucket expires, want 7", m.Calls)
	}
	// t=10s: only the first bucket expired; the t=5s bucket remains.
	clk.Advance(100 * time.Millisecond)
	if m := b.Metrics(); m.Calls != 4 || m.Failures != 0 {
		t.Fatalf("after the first bucket expired: calls %d failures %d, want 4, 0", m.Calls, m.Failures)
	}
	// 4 failures now: 4/8 = 0.5 opens.
	for range 3 {
		call(b, errBoom)
	}
	wantState(t, b, resilience.StateClosed)
	call(b, errBoom)
	wantState(t, b, resilience.StateOpen)

	// A long pause empties the window entirely.
	b.Reset()
	call(b, errBoom)
	clk.Advance(time.Hour)
	if m := b.Metrics(); m.Calls != 0 {
		t.Fatalf("calls = %d after an hour, want 0", m.Calls)
	}
}

func TestBreakerSlowCalls(t *testing.T) {
	cfg := resilience.NewDefaultBreakerConfig()
	cfg.FailureThreshold = 0
	cfg.FailureRate = 0
	cfg.SlowCallRate = 0.5
	cfg.SlowCallDuration = time.Second
	cfg.WindowSize = 4
	cfg.MinimumCalls = 4
	b, clk := newBreaker(t, cfg)
	slow := func() {
		p, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(2 * time.Second)
		p.Done(nil)
	}
	call(b, nil)
	call(b, nil)
	slow()
	wantState(t, b, resilience.StateClosed)
	slow() // 2 of 4 slow
	wantState(t, b, resilience.StateOpen)
}

func TestBreakerHalfOpen(t *testing.T) {
	cfg := consecutiveConfig(1)
	cfg.HalfOpenCalls = 2
	cfg.SuccessThreshold = 2

	open := func(t *testing.T) (*resilience.Breaker, *resiliencetest.FakeClock, *eventLog) {
		log := &eventLog{}
		b, clk := newBreaker(t, cfg, resilience.WithObserver(log))
		call(b, errBoom)
		wantState(t, b, resilience.StateOpen)
		clk.Advance(9 * time.Second)
		if call(b, nil) {
			t.Fatal("allowed before the recovery timeout")
		}
		clk.Advance(time.Second)
		wantState(t, b, resilience.StateHalfOpen)
		return b, clk, log
	}

	t.Run("concurrent trials are bounded", func(t *testing.T) {
		b, _, log := open(t)
		p1, err1 := b.Allow()
		p2, err2 := b.Allow()
		_, err3 := b.Allow()
		if err1 != nil || err2 != nil || !p1.Trial() || !p2.Trial() {
			t.Fatalf("two trials should be allowed: %v %v", err1, err2)
		}
		if !errors.Is(err3, resilience.ErrOpen) {
			t.Fatalf("third concurrent trial: %v, want ErrOpen", err3)
		}
		// 5s are left of the trials' deadline, but a trial decides long before that: the hint is
		// a tenth of the recovery timeout.
		if d, ok := resilience.RetryAfter(err3); !ok || d != time.Second {
			t.Errorf("RetryAfter = %v, %v; want 1s (recovery_timeout/10, under the 5s left)", d, ok)
		}
		p1.Done(nil)
		wantState(t, b, resilience.StateHalfOpen) // one success of two
		p3, err := b.Allow()                      // p1's slot is free again
		if err != nil {
			t.Fatal(err)
		}
		p2.Done(nil)
		wantState(t, b, resilience.StateClosed)
		p3.Done(errBoom) // a trial of the previous half-open state: ignored
		wantState(t, b, resilience.StateClosed)
		want := []string{"closed->open", "open->half_open", "half_open->closed"}
		if got := log.transitions(); !slices.Equal(got, want) {
			t.Errorf("transitions = %v, want %v", got, want)
		}
	})
	t.Run("a failed trial reopens", func(t *testing.T) {
		b, clk, _ := open(t)
		p1, _ := b.Allow()
		p2, _ := b.Allow()
		p1.Done(errBoom)
		wantState(t, b, resilience.StateOpen)
		p2.Done(nil) // late, from the previous half-open period
		wantState(t, b, resilience.StateOpen)
		clk.Advance(10 * time.Second)
		wantState(t, b, resilience.StateHalfOpen)
	})
	t.Run("a hung trial counts as failed at its deadline", func(t *testing.T) {
		b, clk, log := open(t)
		hung1, _ := b.Allow()
		hung2, _ := b.Allow()
		if dl, ok := hung1.Deadline(); !ok || !dl.Equal(clk.Now().Add(5*time.Second)) {
			t.Fatalf("deadline = %v, %v", dl, ok)
		}
		clk.Advance(4 * time.Second)
		if call(b, nil) {
			t.Fatal("allowed a third trial")
		}
		wantState(t, b, resilience.StateHalfOpen)
		clk.Advance(time.Second)
		if call(b, nil) {
			t.Fatal("allowed a call when the trials hung")
		}
		wantState(t, b, resilience.StateOpen)
		hung1.Done(nil)
		hung2.Done(nil)
		wantState(t, b, resilience.StateOpen)
		if got := log.transitions(); got[len(got)-1] != "half_open->open" {
			t.Errorf("transitions = %v", got)
		}
	})
	t.Run("cancelled trial frees its slot without deciding", func(t *testing.T) {
		b, _, _ := open(t)
		p, _ := b.Allow()
		p.Done(context.Canceled)
		wantState(t, b, resilience.StateHalfOpen)
		call(b, nil)
		call(b, nil)
		wantState(t, b, resilience.StateClosed)
	})
}

func TestBreakerExecuteTrialDeadline(t *testing.T) {
	b, clk := newBreaker(t, consecutiveConfig(1))
	ctx := context.Background()
	if err := b.Execute(ctx, func(context.Context) error { return errBoom }); !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	started := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- b.Execute(ctx, func(ctx context.Context) error {
			close(started)
			<-ctx.Done() // a trial that would hang without its deadline
			return ctx.Err()
		})
	}()
	<-started
	clk.Advance(5 * time.Second)
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung trial returned %v", err)
	}
	// The trial ran out of time: a failure, so the breaker is open again.
	wantState(t, b, resilience.StateOpen)
}

// The observer runs without the breaker's lock: it may call back into the breaker.
func TestBreakerObserverMayReenter(t *testing.T) {
	var b *resilience.Breaker
	var seen []resilience.State
	obs := resilience.ObserverFunc(func(e resilience.Event) {
		if e.Kind != resilience.EventStateChange {
			return
		}
		seen = append(seen, b.State())
		if e.To == resilience.StateOpen {
			b.Reset() // re-entrant transition: delivered after this one, in order
		}
	})
	b, _ = newBreaker(t, consecutiveConfig(1), resilience.WithObserver(obs))
	call(b, errBoom)
	wantState(t, b, resilience.StateClosed)
	if len(seen) != 2 {
		t.Fatalf("observed %d state changes, want 2 (open, then the reset)", len(seen))
	}
}

func TestBreakerConcurrent(t *testing.T) {
	cfg := resilience.NewDefaultBreakerConfig()
	cfg.FailureThreshold = 0
	cfg.FailureRate = 0.9
	cfg.WindowSize = 50
	cfg.MinimumCalls = 50
	b, _ := newBreaker(t, cfg)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				var err error
				if (i+g)%4 == 0 {
					err = errBoom
				}
				call(b, err)
			}
		})
	}
	wg.Wait()
	m := b.Metrics()
	if m.Calls != 50 || m.Failures > 50 {
		t.Fatalf("window totals %+v, want 50 calls", m)
	}
	wantState(t, b, resilience.StateClosed)
}

func TestBreakerConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*resilience.BreakerConfig)
		key  string
	}{
		{"default", func(*resilience.BreakerConfig) {}, ""},
		{"disabled skips checks", func(c *resilience.BreakerConfig) { c.Disabled = true; c.RecoveryTimeout = -1 }, ""},
		{"no trip condition", func(c *resilience.BreakerConfig) { c.FailureThreshold = 0; c.FailureRate = 0 }, "failure_threshold"},
		{"negative threshold", func(c *resilience.BreakerConfig) { c.FailureThreshold = -1 }, "failure_threshold"},
		{"rate above 1", func(c *resilience.BreakerConfig) { c.FailureRate = 1.5 }, "failure_rate"},
		{"slow rate without duration", func(c *resilience.BreakerConfig) { c.SlowCallRate = 0.5 }, "slow_call_duration"},
		{"window kind", func(c *resilience.BreakerConfig) { c.Window = "sliding" }, "window"},
		{"window size", func(c *resilience.BreakerConfig) { c.WindowSize = 0 }, "window_size"},
		{"time window buckets", func(c *resilience.BreakerConfig) { c.Window = "time"; c.WindowBuckets = 0 }, "window_buckets"},
		{"time window duration", func(c *resilience.BreakerConfig) { c.Window = "time"; c.WindowDuration = 0 }, "window_duration"},
		{"recovery", func(c *resilience.BreakerConfig) { c.RecoveryTimeout = 0 }, "recovery_timeout"},
		{"half open calls", func(c *resilience.BreakerConfig) { c.HalfOpenCalls = 0 }, "half_open_calls"},
		{"success threshold", func(c *resilience.BreakerConfig) { c.SuccessThreshold = 0 }, "success_threshold"},
		{"trial timeout", func(c *resilience.BreakerConfig) { c.TrialTimeout = -time.Second }, "trial_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := resilience.NewDefaultBreakerConfig()
			tt.edit(&cfg)
			checkKey(t, cfg.Validate(), tt.key)
		})
	}
}

func checkKey(t *testing.T, err error, key string) {
	t.Helper()
	if key == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one naming %q", key)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(line, key+":") {
			return
		}
	}
	t.Fatalf("error %q does not name key %q", err, key)
}

func TestBreakerPanickingCallCountsAsFailure(t *testing.T) {
	b, clk := newBreaker(t, consecutiveConfig(1))
	call(b, errBoom)
	clk.Advance(10 * time.Second)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		_ = b.Execute(context.Background(), func(context.Context) error { panic("trial blew up") })
	}()
	wantState(t, b, resilience.StateOpen) // the trial failed; its slot is not held
}

// A state change to open carries the error of the call that tripped it (consecutive failures,
// then a failed trial), so that a log of the change can say why.
func TestBreakerOpenCarriesTheCause(t *testing.T) {
	var mu sync.Mutex
	var opens []error
	obs := resilience.ObserverFunc(func(e resilience.Event) {
		if e.Kind == resilience.EventStateChange {
			mu.Lock()
			defer mu.Unlock()
			if e.To == resilience.StateOpen {
				opens = append(opens, e.Err)
			} else if e.Err != nil {
				t.Errorf("%v->%v carries %v, want no error", e.From, e.To, e.Err)
			}
		}
	})
	b, clk := newBreaker(t, consecutiveConfig(2), resilience.WithObserver(obs))
	call(b, errors.New("first"))
	call(b, errBoom)
	clk.Advance(10 * time.Second)
	trial := errors.New("trial refused")
	call(b, trial)
	mu.Lock()
	defer mu.Unlock()
	if len(opens) != 2 || !errors.Is(opens[0], errBoom) || !errors.Is(opens[1], trial) {
		t.Fatalf("open transitions carry %v, want [%v %v]", opens, errBoom, trial)
	}
}
