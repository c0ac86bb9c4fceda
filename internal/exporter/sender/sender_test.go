package sender_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errUnavailable = errors.New("upstream unavailable")

// fakeNext records attempts and answers with fn.
type fakeNext struct {
	fn func(ctx context.Context, attempt int, b pipeline.Batch) error

	mu       sync.Mutex
	attempts []time.Time // guarded by mu
	items    int         // guarded by mu; items of successful attempts
}

func (f *fakeNext) Consume(ctx context.Context, b pipeline.Batch) error {
	f.mu.Lock()
	f.attempts = append(f.attempts, time.Now())
	n := len(f.attempts)
	f.mu.Unlock()
	err := f.fn(ctx, n, b)
	if err == nil {
		f.mu.Lock()
		f.items += b.Items
		f.mu.Unlock()
	}
	return err
}

func (f *fakeNext) times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.attempts...)
}

func batch(items int) pipeline.Batch {
	return pipeline.Batch{Signal: pipeline.SignalTraces, Body: make([]byte, items*10), Items: items}
}

func fastRetry() sender.RetryConfig {
	return sender.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond,
		Multiplier: 2, RandomizationFactor: 0.1, MaxElapsedTime: time.Minute}
}

func queue(size int, policy string) sender.QueueConfig {
	return sender.QueueConfig{Enabled: true, NumConsumers: 1, QueueSize: size, FullPolicy: policy, BlockTimeout: 2 * time.Second}
}

type counts struct{ exported, failed, queueFull, shutdown float64 }

func read(t *testing.T, m *selftel.Metrics) counts {
	t.Helper()
	return counts{
		exported:  testutil.MetricValue(t, m.Registry, "otlp_exported_spans_total", "exporter", "test"),
		failed:    testutil.MetricValue(t, m.Registry, "otlp_dropped_spans_total", "reason", selftel.ReasonExportFailed),
		queueFull: testutil.MetricValue(t, m.Registry, "otlp_dropped_spans_total", "reason", selftel.ReasonQueueFull),
		shutdown:  testutil.MetricValue(t, m.Registry, "otlp_dropped_spans_total", "reason", selftel.ReasonShutdown),
	}
}

func newSender(t *testing.T, next sender.Consumer, cfg sender.Config) (*sender.Sender, *selftel.Metrics) {
	t.Helper()
	m := selftel.New()
	s, err := sender.New(next, cfg, sender.Settings{Name: "test", Metrics: m, UnhealthyAfter: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*sender.Config)
		want string
	}{
		{"defaults", func(*sender.Config) {}, ""},
		{"consumers", func(c *sender.Config) { c.Queue.NumConsumers = 0 }, "sending_queue.num_consumers"},
		{"size", func(c *sender.Config) { c.Queue.QueueSize = 0 }, "sending_queue.queue_size"},
		{"bytes", func(c *sender.Config) { c.Queue.MaxBytes = -1 }, "sending_queue.max_bytes"},
		{"policy", func(c *sender.Config) { c.Queue.FullPolicy = "drop_newest" }, "sending_queue.full_policy"},
		{"block", func(c *sender.Config) { c.Queue.BlockTimeout = -1 }, "sending_queue.block_timeout"},
		{"disabled queue ignores keys", func(c *sender.Config) { c.Queue = sender.QueueConfig{} }, ""},
		{"initial", func(c *sender.Config) { c.Retry.InitialInterval = 0 }, "retry.initial_interval"},
		{"max", func(c *sender.Config) { c.Retry.MaxInterval = time.Second }, "retry.max_interval"},
		{"multiplier", func(c *sender.Config) { c.Retry.Multiplier = 0.5 }, "retry.multiplier"},
		{"jitter", func(c *sender.Config) { c.Retry.RandomizationFactor = 2 }, "retry.randomization_factor"},
		{"elapsed", func(c *sender.Config) { c.Retry.MaxElapsedTime = -1 }, "retry.max_elapsed_time"},
		{"attempts", func(c *sender.Config) { c.Retry.MaxAttempts = -1 }, "retry.max_attempts"},
		{"disabled retry ignores keys", func(c *sender.Config) { c.Retry = sender.RetryConfig{} }, ""},
		{"timeout", func(c *sender.Config) { c.Timeout = -1 }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sender.Config{Queue: sender.NewDefaultQueueConfig(), Retry: sender.NewDefaultRetryConfig()}
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want+":") {
				t.Fatalf("error %v, want it to start with %q", err, tt.want+":")
			}
		})
	}
}

func TestRetryHonoursThrottleDelay(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration
	}{{"short", 200 * time.Millisecond}, {"long", 7 * time.Second}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				next := &fakeNext{fn: func(_ context.Context, n int, _ pipeline.Batch) error {
					if n == 1 {
						return resilience.Throttled(errUnavailable, tt.delay)
					}
					return nil
				}}
				s, m := newSender(t, next, sender.Config{Retry: fastRetry()})
				if err := s.Consume(t.Context(), batch(5)); err != nil {
					t.Fatal(err)
				}
				at := next.times()
				if len(at) != 2 {
					t.Fatalf("%d attempts, want 2", len(at))
				}
				if gap := at[1].Sub(at[0]); gap < tt.delay {
					t.Errorf("retried after %v, before the %v the destination asked for", gap, tt.delay)
				}
				if c := read(t, m); c.exported != 5 || c.failed != 0 {
					t.Errorf("counts %+v, want 5 exported", c)
				}
				_ = s.Shutdown(t.Context())
			})
		})
	}
}

func TestBackoffGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &fakeNext{fn: func(_ context.Context, n int, _ pipeline.Batch) error {
			if n < 5 {
				return errUnavailable
			}
			return nil
		}}
		cfg := sender.RetryConfig{Enabled: true, InitialInterval: time.Second, MaxInterval: 4 * time.Second, Multiplier: 2, MaxElapsedTime: time.Minute}
		s, _ := newSender(t, next, sender.Config{Retry: cfg})
		if err := s.Consume(t.Context(), batch(1)); err != nil {
			t.Fatal(err)
		}
		at := next.times()
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
		for i, w := range want {
			if got := at[i+1].Sub(at[i]); got != w {
				t.Errorf("wait %d: %v, want %v (no jitter configured)", i+1, got, w)
			}
		}
	})
}

func TestPermanentErrorNotRetried(t *testing.T) {
	for _, queued := range []bool{false, true} {
		t.Run(fmt.Sprintf("queue=%v", queued), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error {
					return resilience.Permanent(errors.New("bad data"))
				}}
				cfg := sender.Config{Retry: fastRetry()}
				if queued {
					cfg.Queue = queue(100, sender.PolicyBlock)
				}
				s, m := newSender(t, next, cfg)
				if err := s.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				err := s.Consume(t.Context(), batch(7))
				if queued == (err != nil) || (!queued && !resilience.IsPermanent(err)) {
					t.Fatalf("Consume: %v", err)
				}
				synctest.Wait()
				if n := len(next.times()); n != 1 {
					t.Errorf("%d attempts, want 1", n)
				}
				if c := read(t, m); c.failed != 7 || c.exported != 0 {
					t.Errorf("counts %+v, want 7 dropped export_failed", c)
				}
				if !s.Healthy() {
					t.Error("a permanent error made the sender unhealthy; the destination answered")
				}
				if err := s.Shutdown(t.Context()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestRetriesExhaustedCountedDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error { return errUnavailable }}
		cfg := sender.Config{Queue: queue(100, sender.PolicyBlock), Retry: fastRetry()}
		cfg.Retry.MaxElapsedTime = 5 * time.Second
		s, m := newSender(t, next, cfg)
		_ = s.Start(t.Context())
		if err := s.Consume(t.Context(), batch(4)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second) // fake time: let the retries run out
		synctest.Wait()
		if c := read(t, m); c.failed != 4 {
			t.Errorf("counts %+v, want 4 dropped export_failed", c)
		}
		at := next.times()
		if last := at[len(at)-1].Sub(at[0]); last > 5*time.Second {
			t.Errorf("last attempt %v after the first, past max_elapsed_time", last)
		}
		if s.Healthy() {
			t.Error("still healthy 10s after failures began (unhealthy_after 10s)")
		}
		_ = s.Shutdown(t.Context())
	})
}

func TestMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error { return errUnavailable }}
		cfg := sender.Config{Queue: queue(100, sender.PolicyBlock), Retry: fastRetry()}
		cfg.Retry.MaxAttempts, cfg.Retry.MaxElapsedTime = 3, 0
		s, m := newSender(t, next, cfg)
		_ = s.Start(t.Context())
		_ = s.Consume(t.Context(), batch(2))
		time.Sleep(time.Minute) // fake time
		synctest.Wait()
		if n := len(next.times()); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
		if c := read(t, m); c.failed != 2 {
			t.Errorf("counts %+v", c)
		}
		_ = s.Shutdown(t.Context())
	})
}

func TestRetryUntilShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error { return errUnavailable }}
		cfg := sender.Config{Queue: queue(100, sender.PolicyBlock), Retry: fastRetry()}
		cfg.Retry.MaxElapsedTime = 0
		s, m := newSender(t, next, cfg)
		_ = s.Start(t.Context())
		_ = s.Consume(t.Context(), batch(2))
		time.Sleep(time.Hour) // fake time
		if c := read(t, m); c.failed != 0 {
			t.Errorf("gave up after an hour with max_elapsed_time 0: %+v", c)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		if c := read(t, m); c.shutdown != 2 {
			t.Errorf("counts %+v, want 2 dropped at shutdown", c)
		}
	})
}

func TestSyncRetryableErrorReturned(t *testing.T) {
	next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error { return errUnavailable }}
	s, m := newSender(t, next, sender.Config{})
	err := s.Consume(t.Context(), batch(3))
	if !errors.Is(err, errUnavailable) || resilience.IsPermanent(err) {
		t.Fatalf("Consume: %v, want the retryable error", err)
	}
	if c := read(t, m); c != (counts{}) {
		t.Errorf("counts %+v: the caller still owns the batch, nothing is counted", c)
	}
	_ = s.Shutdown(t.Context())
	if err := s.Consume(t.Context(), batch(1)); !errors.Is(err, sender.ErrStopped) {
		t.Errorf("Consume after Shutdown: %v, want ErrStopped", err)
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &fakeNext{fn: func(ctx context.Context, n int, _ pipeline.Batch) error {
			if n == 1 {
				<-ctx.Done() // a destination that never answers
				return ctx.Err()
			}
			return nil
		}}
		s, m := newSender(t, next, sender.Config{Retry: fastRetry(), Timeout: 3 * time.Second})
		start := time.Now()
		if err := s.Consume(t.Context(), batch(2)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 3*time.Second || d > 4*time.Second {
			t.Errorf("took %v, want the 3s timeout plus one backoff", d)
		}
		if c := read(t, m); c.exported != 2 {
			t.Errorf("counts %+v", c)
		}
	})
}

func TestPartialSuccess(t *testing.T) {
	next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error {
		return &sender.PartialSuccess{Rejected: 3, Message: "3 spans had empty names"}
	}}
	s, m := newSender(t, next, sender.Config{Retry: fastRetry()})
	if err := s.Consume(t.Context(), batch(10)); err != nil {
		t.Fatalf("partial success is not an error: %v", err)
	}
	if n := len(next.times()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	if c := read(t, m); c.exported != 7 || c.failed != 3 {
		t.Errorf("counts %+v, want 7 exported and 3 dropped", c)
	}
}

func TestQueueFullBlockThenThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		next := &fakeNext{fn: func(ctx context.Context, _ int, _ pipeline.Batch) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}
		s, m := newSender(t, next, sender.Config{Queue: queue(10, sender.PolicyBlock)})
		_ = s.Start(t.Context())
		for range 3 { // one in flight, two queued: the queue is full
			if err := s.Consume(t.Context(), batch(5)); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		start := time.Now()
		err := s.Consume(t.Context(), batch(5))
		d, throttled := resilience.RetryAfter(err)
		if !errors.Is(err, sender.ErrQueueFull) || !throttled || d <= 0 {
			t.Fatalf("Consume on a full queue: %v, want a Throttled ErrQueueFull", err)
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("refused after %v, want block_timeout 2s", waited)
		}
		// The batch being sent counts too: it is at risk as much as the queued ones.
		if got := testutil.MetricValue(t, m.Registry, "otlp_queue_size", "component", "exporter/test"); got != 15 {
			t.Errorf("queue gauge %v, want 15 (10 queued, 5 being sent)", got)
		}

		// Room made while a caller blocks lets it in.
		done := make(chan error, 1)
		go func() { done <- s.Consume(t.Context(), batch(5)) }()
		synctest.Wait()
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("blocked Consume: %v", err)
		}
		if err := s.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if c := read(t, m); c.exported != 20 || c.queueFull+c.failed+c.shutdown != 0 {
			t.Errorf("counts %+v, want 20 exported, none dropped", c)
		}
	})
}

func TestQueueFullDropOldest(t *testing.T) {
	next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error { return nil }}
	s, m := newSender(t, next, sender.Config{Queue: queue(10, sender.PolicyDropOldest)})
	// Not started: nothing leaves the queue.
	for range 3 {
		if err := s.Consume(t.Context(), batch(5)); err != nil {
			t.Fatal(err)
		}
	}
	if c := read(t, m); c.queueFull != 5 {
		t.Errorf("counts %+v, want 5 dropped queue_full", c)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := read(t, m); c.exported != 10 || c.queueFull != 5 || c.shutdown != 0 {
		t.Errorf("counts %+v, want 10 exported and 5 dropped", c)
	}
}

func TestShutdownDrains(t *testing.T) {
	next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error { return nil }}
	cfg := sender.Config{Queue: queue(1000, sender.PolicyBlock), Retry: fastRetry()}
	cfg.Queue.NumConsumers = 3
	s, m := newSender(t, next, cfg)
	for range 50 {
		if err := s.Consume(t.Context(), batch(4)); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Start(t.Context())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if c := read(t, m); c.exported != 200 || c.shutdown != 0 {
		t.Errorf("counts %+v, want all 200 exported", c)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestShutdownDeadlineCountsTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &fakeNext{fn: func(ctx context.Context, _ int, _ pipeline.Batch) error {
			<-ctx.Done() // stuck destination
			return ctx.Err()
		}}
		s, m := newSender(t, next, sender.Config{Queue: queue(100, sender.PolicyBlock), Retry: fastRetry()})
		_ = s.Start(t.Context())
		for range 4 {
			if err := s.Consume(t.Context(), batch(3)); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want the deadline", err)
		}
		if c := read(t, m); c.shutdown != 12 || c.exported+c.failed != 0 {
			t.Errorf("counts %+v, want all 12 items dropped at shutdown", c)
		}
		if got := testutil.MetricValue(t, m.Registry, "otlp_queue_size", "component", "exporter/test"); got != 0 {
			t.Errorf("queue gauge %v after shutdown", got)
		}
	})
}

func TestShutdownWithoutStart(t *testing.T) {
	next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error { return nil }}
	s, m := newSender(t, next, sender.Config{Queue: queue(100, sender.PolicyBlock)})
	_ = s.Consume(t.Context(), batch(6))
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := read(t, m); c.shutdown != 6 {
		t.Errorf("counts %+v, want 6 dropped at shutdown", c)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume(t.Context(), batch(1)); !errors.Is(err, sender.ErrStopped) {
		t.Errorf("Consume after Shutdown: %v", err)
	}
}

func TestHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		fail := true
		next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errUnavailable
			}
			return nil
		}}
		s, _ := newSender(t, next, sender.Config{})
		if !s.Healthy() {
			t.Fatal("unhealthy before any attempt")
		}
		_ = s.Consume(t.Context(), batch(1))
		if !s.Healthy() {
			t.Error("one failure made it unhealthy at once")
		}
		time.Sleep(11 * time.Second)
		_ = s.Consume(t.Context(), batch(1))
		st := s.Status()
		if s.Healthy() || st.Healthy || !strings.Contains(st.LastError, "unavailable") || st.FailingSince.IsZero() {
			t.Errorf("after 11s of failures: healthy %v, status %+v", s.Healthy(), st)
		}
		mu.Lock()
		fail = false
		mu.Unlock()
		_ = s.Consume(t.Context(), batch(1))
		if !s.Healthy() {
			t.Error("a success did not restore health")
		}
	})
}

// TestNothingUncounted pushes batches from several goroutines through a small queue whose
// destination fails now and then: every item must end up exported or dropped.
func TestNothingUncounted(t *testing.T) {
	for _, policy := range []string{sender.PolicyBlock, sender.PolicyDropOldest} {
		t.Run(policy, func(t *testing.T) {
			next := &fakeNext{fn: func(_ context.Context, n int, _ pipeline.Batch) error {
				switch n % 7 {
				case 0:
					return resilience.Permanent(errors.New("bad"))
				case 3:
					return errUnavailable
				}
				return nil
			}}
			cfg := sender.Config{Queue: queue(50, policy), Retry: fastRetry()}
			cfg.Queue.NumConsumers = 2
			cfg.Queue.BlockTimeout = 0
			cfg.Retry.InitialInterval, cfg.Retry.MaxInterval = time.Millisecond, time.Millisecond
			s, m := newSender(t, next, cfg)
			_ = s.Start(t.Context())
			var (
				wg      sync.WaitGroup
				refused sync.Map
			)
			for g := range 4 {
				wg.Go(func() {
					for i := range 200 {
						if err := s.Consume(t.Context(), batch(1+i%5)); err != nil {
							refused.Store(fmt.Sprint(g, i), 1+i%5)
						}
					}
				})
			}
			wg.Wait()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			total := 4 * 40 * (1 + 2 + 3 + 4 + 5)
			refusedItems := 0
			refused.Range(func(_, v any) bool { refusedItems += v.(int); return true })
			c := read(t, m)
			if got := int(c.exported + c.failed + c.queueFull + c.shutdown); got+refusedItems != total {
				t.Errorf("exported+dropped %d + refused %d != %d sent (%+v)", got, refusedItems, total, c)
			}
		})
	}
}

// keepingQueue stands for a durable queue: what is left at shutdown stays, uncounted.
type keepingQueue struct {
	*sender.MemoryQueue
	mu          sync.Mutex
	interrupted int // guarded by mu
}

func (q *keepingQueue) Get(ctx context.Context) (sender.Item, error) {
	it, err := q.MemoryQueue.Get(ctx)
	if err != nil {
		return it, err
	}
	done := it.Done
	it.Done = func(handled bool) {
		if !handled {
			q.mu.Lock()
			q.interrupted++
			q.mu.Unlock()
		}
		done(handled)
	}
	return it, nil
}

func (q *keepingQueue) Discard() []pipeline.Batch { return nil }

func TestCustomQueueKeepsItsContents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &fakeNext{fn: func(ctx context.Context, _ int, _ pipeline.Batch) error {
			<-ctx.Done()
			return ctx.Err()
		}}
		q := &keepingQueue{MemoryQueue: sender.NewMemoryQueue(queue(100, sender.PolicyBlock), nil)}
		m := selftel.New()
		s, err := sender.New(next, sender.Config{Queue: queue(100, sender.PolicyBlock)}, sender.Settings{Name: "test", Metrics: m, Queue: q})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Start(t.Context())
		for range 3 {
			_ = s.Consume(t.Context(), batch(2))
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		if c := read(t, m); c != (counts{}) {
			t.Errorf("counts %+v: a durable queue keeps what is left", c)
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.interrupted != 1 || q.Len() != 6 {
			t.Errorf("interrupted %d, left %d items; want 1 and 6", q.interrupted, q.Len())
		}
	})
}
