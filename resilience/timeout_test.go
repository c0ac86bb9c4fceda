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

func TestTimeout(t *testing.T) {
	tests := []struct {
		name    string
		fn      func(context.Context) error
		want    error
		elapsed time.Duration
	}{
		{"fast", func(context.Context) error { return nil }, nil, 0},
		{"fast error", func(context.Context) error { return errBoom }, errBoom, 0},
		{"honours its context", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, resilience.ErrTimeout, time.Second},
		{"wraps the call's own error", func(ctx context.Context) error {
			<-ctx.Done()
			return errBoom
		}, errBoom, time.Second},
		// The call ignores its context: the caller waits for it (nothing is left running), and
		// the late result is replaced by the timeout.
		{"ignores its context", func(context.Context) error {
			time.Sleep(3 * time.Second) // a slow call, in the bubble's fake time
			return nil
		}, resilience.ErrTimeout, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				obs := &eventLog{}
				to := resilience.NewTimeout(time.Second, resilience.WithObserver(obs))
				start := time.Now()
				err := to.Execute(t.Context(), tt.fn)
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if got := time.Since(start); got != tt.elapsed {
					t.Errorf("elapsed %v, want %v", got, tt.elapsed)
				}
				timedOut := tt.elapsed > 0
				if timedOut != errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("errors.Is(err, DeadlineExceeded) = %v", !timedOut)
				}
				if n := to.Timeouts(); (n == 1) != timedOut || len(obs.events) != int(n) {
					t.Errorf("timeouts = %d, events = %d", n, len(obs.events))
				}
			})
		})
	}
}

func TestTimeoutLeavesParentErrorsAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := resilience.NewTimeout(time.Minute)
		// A shorter caller deadline: no context of ours, and the caller's error unchanged.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		var seen context.Context
		err := to.Execute(ctx, func(c context.Context) error {
			seen = c
			<-c.Done()
			return c.Err()
		})
		if err != context.DeadlineExceeded || seen != ctx || to.Timeouts() != 0 {
			t.Fatalf("err = %v, same ctx = %v, timeouts = %d", err, seen == ctx, to.Timeouts())
		}
		// The caller cancels: context.Canceled, not a timeout.
		ctx2, cancel2 := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel2()
		}()
		err = to.Execute(ctx2, func(c context.Context) error {
			<-c.Done()
			return c.Err()
		})
		if !errors.Is(err, context.Canceled) || errors.Is(err, resilience.ErrTimeout) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestTimeoutFakeClock(t *testing.T) {
	clk := resiliencetest.NewFakeClock(epoch)
	to := resilience.NewTimeout(time.Second, resilience.WithClock(clk))
	err := to.Execute(context.Background(), func(ctx context.Context) error {
		if dl, ok := ctx.Deadline(); !ok || !dl.Equal(epoch.Add(time.Second)) {
			t.Errorf("deadline = %v, %v; want on the fake clock", dl, ok)
		}
		clk.Advance(time.Second) // the call takes its whole budget
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, resilience.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if clk.Timers() != 0 {
		t.Fatalf("%d timers left", clk.Timers())
	}
	if err := to.Execute(context.Background(), func(context.Context) error { return nil }); err != nil || clk.Timers() != 0 {
		t.Fatalf("err %v, %d timers left", err, clk.Timers())
	}
}

func TestBulkhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bh, err := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 2, MaxWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		hold := func(context.Context) error { <-release; return nil }
		var started [2]chan error
		for i := range started {
			started[i] = make(chan error, 1)
			go func() { started[i] <- bh.Execute(t.Context(), hold) }()
		}
		synctest.Wait()
		if bh.InFlight() != 2 {
			t.Fatalf("in flight = %d", bh.InFlight())
		}
		// A third call waits up to MaxWait, then is rejected.
		start := time.Now()
		err = bh.Execute(t.Context(), hold)
		if !errors.Is(err, resilience.ErrBulkheadFull) || time.Since(start) != time.Second {
			t.Fatalf("err = %v after %v", err, time.Since(start))
		}
		// A waiter gets the slot that frees up.
		got := make(chan error, 1)
		go func() { got <- bh.Execute(t.Context(), func(context.Context) error { return nil }) }()
		synctest.Wait()
		release <- struct{}{}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		close(release)
		for i := range started {
			if err := <-started[i]; err != nil {
				t.Fatal(err)
			}
		}
		// A cancelled waiter gives up at once.
		block := make(chan struct{})
		for range 2 {
			go func() { _ = bh.Execute(t.Context(), func(context.Context) error { <-block; return nil }) }()
		}
		synctest.Wait()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := bh.Execute(ctx, hold); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiter: %v", err)
		}
		close(block)
		synctest.Wait()
		if bh.Rejected() != 1 || bh.InFlight() != 0 {
			t.Fatalf("rejected %d, in flight %d", bh.Rejected(), bh.InFlight())
		}
	})
}

func TestRateLimiter(t *testing.T) {
	clk := resiliencetest.NewFakeClock(epoch)
	rl, err := resilience.NewRateLimiter(resilience.RateLimitConfig{Rate: 10, Burst: 3}, resilience.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if !rl.Allow() {
			t.Fatalf("burst call %d refused", i)
		}
	}
	if rl.Allow() {
		t.Fatal("a fourth call in the same instant was allowed")
	}
	clk.Advance(99 * time.Millisecond)
	if rl.Allow() {
		t.Fatal("allowed before the next token")
	}
	clk.Advance(time.Millisecond)
	if !rl.Allow() {
		t.Fatal("refused after 100ms at 10/s")
	}
	// A long pause refills only up to the burst.
	clk.Advance(time.Hour)
	n := 0
	for rl.Allow() {
		n++
	}
	if n != 3 {
		t.Fatalf("allowed %d after a pause, want the burst of 3", n)
	}
	err = rl.Wait(context.Background())
	if !errors.Is(err, resilience.ErrRateLimited) {
		t.Fatalf("Wait without MaxWait = %v", err)
	}
	if d, ok := resilience.RetryAfter(err); !ok || d != 100*time.Millisecond {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
}

func TestRateLimiterWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rl, err := resilience.NewRateLimiter(resilience.RateLimitConfig{Rate: 2, Burst: 1, MaxWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var at []time.Duration
		for range 3 {
			if err := rl.Execute(t.Context(), func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
			at = append(at, time.Since(start))
		}
		if want := []time.Duration{0, 500 * time.Millisecond, time.Second}; !slicesEqual(at, want) {
			t.Fatalf("calls at %v, want %v", at, want)
		}
		// Three concurrent callers would need to wait 0.5, 1 and 1.5s: one exceeds MaxWait and
		// is rejected at once.
		errs := make(chan error, 3)
		for range 3 {
			go func() { errs <- rl.Wait(t.Context()) }()
		}
		synctest.Wait()
		select {
		case err := <-errs:
			if !errors.Is(err, resilience.ErrRateLimited) {
				t.Fatalf("first to return: %v, want the rejection", err)
			}
		default:
			t.Fatal("the rejection waited")
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if rl.Rejected() != 1 {
			t.Fatalf("rejected %d", rl.Rejected())
		}
	})
}
