package resilience_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/otlp-dev/otlp/resilience"
)

// flaky is a check whose result the test sets.
type flaky struct {
	err  atomic.Pointer[error]
	runs atomic.Int32
}

func (f *flaky) set(err error) { f.err.Store(&err) }

func (f *flaky) check(context.Context) error {
	f.runs.Add(1)
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

func statusOf(rep resilience.HealthReport, name string) resilience.CheckResult {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	return resilience.CheckResult{}
}

func TestHealthChecker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := resilience.NewHealthChecker()
		db, cache := &flaky{}, &flaky{}
		if err := h.Register("db", db.check, 10*time.Second, time.Second, 2); err != nil {
			t.Fatal(err)
		}
		if err := h.Register("cache", cache.check, 10*time.Second, time.Second, 0, resilience.NonCritical()); err != nil {
			t.Fatal(err)
		}
		if got := h.Status().Status; got != resilience.StatusUnhealthy {
			t.Fatalf("before any run: %v, want unhealthy (not ready)", got)
		}
		if err := h.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer h.Stop()
		synctest.Wait()
		if got := h.Status().Status; got != resilience.StatusHealthy {
			t.Fatalf("after the first runs: %v", got)
		}

		// The non-critical check fails: degraded at once (retries 0).
		cache.set(errBoom)
		time.Sleep(10 * time.Second) // let one interval pass in the bubble's fake time
		synctest.Wait()
		if rep := h.Status(); rep.Status != resilience.StatusDegraded || statusOf(rep, "cache").Error == "" {
			t.Fatalf("report %+v", rep)
		}
		cache.set(nil)

		// The critical check fails: tolerated for 2 runs, unhealthy at the third.
		db.set(errBoom)
		for run := 1; run <= 3; run++ {
			time.Sleep(10 * time.Second)
			synctest.Wait()
			rep := h.Status()
			if c := statusOf(rep, "db"); c.ConsecutiveFailures != run {
				t.Fatalf("run %d: %+v", run, c)
			}
			want := resilience.StatusHealthy
			if run == 3 {
				want = resilience.StatusUnhealthy
			}
			if rep.Status != want {
				t.Fatalf("run %d: %v, want %v", run, rep.Status, want)
			}
		}
		// A check may report degraded itself.
		db.set(resilience.MarkDegraded(errors.New("replica lag")))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		rep := h.Status()
		if rep.Status != resilience.StatusDegraded || statusOf(rep, "db").Status != resilience.StatusDegraded {
			t.Fatalf("report %+v", rep)
		}
		js, err := json.Marshal(rep)
		if err != nil || !strings.Contains(string(js), `"status":"degraded"`) {
			t.Fatalf("json %s, %v", js, err)
		}
	})
}

func TestHealthCheckTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := resilience.NewHealthChecker()
		_ = h.Register("honours", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, time.Minute, time.Second, 0)
		// Ignores its context: the run concludes when it returns, as a timeout.
		_ = h.Register("ignores", func(context.Context) error {
			time.Sleep(5 * time.Second)
			return nil
		}, time.Minute, time.Second, 0)
		_ = h.Register("panics", func(context.Context) error { panic("oops") }, time.Minute, time.Second, 0)
		start := time.Now()
		h.RunOnce(t.Context())
		if time.Since(start) != 5*time.Second {
			t.Errorf("RunOnce took %v", time.Since(start))
		}
		rep := h.Status()
		for _, name := range []string{"honours", "ignores"} {
			if c := statusOf(rep, name); c.Status != resilience.StatusUnhealthy || !strings.Contains(c.Error, "timed out") {
				t.Errorf("%s: %+v", name, c)
			}
		}
		if c := statusOf(rep, "panics"); c.Status != resilience.StatusUnhealthy || !strings.Contains(c.Error, "panicked") {
			t.Errorf("panics: %+v", c)
		}
	})
}

func TestHealthCheckerLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := resilience.NewHealthChecker()
		h.Stop() // safe without Start
		f := &flaky{}
		tests := []struct {
			name     string
			interval time.Duration
			timeout  time.Duration
			retries  int
			check    func(context.Context) error
		}{
			{"", time.Second, time.Second, 0, f.check},
			{"x", 0, time.Second, 0, f.check},
			{"x", time.Second, 0, 0, f.check},
			{"x", time.Second, time.Second, -1, f.check},
			{"x", time.Second, time.Second, 0, nil},
		}
		for _, tt := range tests {
			if err := h.Register(tt.name, tt.check, tt.interval, tt.timeout, tt.retries); err == nil {
				t.Errorf("Register(%q, %v, %v, %d) accepted", tt.name, tt.interval, tt.timeout, tt.retries)
			}
		}
		if err := h.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := h.Start(t.Context()); err == nil {
			t.Error("second Start accepted")
		}
		// Registered after Start: runs at once.
		if err := h.Register("late", f.check, time.Second, time.Second, 0); err != nil {
			t.Fatal(err)
		}
		if err := h.Register("late", f.check, time.Second, time.Second, 0); err == nil {
			t.Error("duplicate name accepted")
		}
		synctest.Wait()
		if f.runs.Load() != 1 || h.Status().Status != resilience.StatusHealthy {
			t.Fatalf("runs %d, %+v", f.runs.Load(), h.Status())
		}
		h.Stop()
		h.Stop()
		time.Sleep(time.Minute)
		if f.runs.Load() != 1 {
			t.Fatalf("ran %d times after Stop", f.runs.Load())
		}
	})
}
