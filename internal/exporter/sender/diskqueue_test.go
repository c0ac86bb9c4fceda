package sender_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/pipeline"
	diskq "github.com/otlp-dev/otlp/internal/queue"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

// diskQueue is a small disk sending queue in dir: 4 KiB segments, 64 KiB on disk.
func diskQueue(dir string) sender.QueueConfig {
	q := sender.NewDefaultQueueConfig()
	q.NumConsumers = 1
	q.Storage = sender.StorageDisk
	q.Disk.Dir = dir
	q.Disk.MaxDiskMiB, q.Disk.MaxDiskBytes = 0, 64<<10
	q.Disk.SegmentMiB, q.Disk.SegmentBytes = 0, 4096
	q.Disk.MaxMemoryMiB, q.Disk.MaxMemoryBytes = 0, 16<<10
	q.Disk.Fsync = diskq.FsyncNever
	return q
}

func diskCounts(t *testing.T, m *selftel.Metrics) (maxAge, kept float64) {
	t.Helper()
	return testutil.MetricValue(t, m.Registry, "otlp_dropped_spans_total", "reason", selftel.ReasonMaxAgeExpired),
		testutil.MetricValue(t, m.Registry, "otlp_queue_kept_items", "exporter", "test")
}

func TestDiskQueueConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*sender.QueueConfig)
		want string
	}{
		{"memory default", func(*sender.QueueConfig) {}, ""},
		{"disk", func(q *sender.QueueConfig) { q.Storage, q.Disk.Dir = sender.StorageDisk, "q" }, ""},
		{"storage", func(q *sender.QueueConfig) { q.Storage = "tape" }, "sending_queue.storage"},
		{"dir", func(q *sender.QueueConfig) { q.Storage = sender.StorageDisk }, "sending_queue.disk.dir"},
		{"disk size", func(q *sender.QueueConfig) {
			q.Storage, q.Disk.Dir, q.Disk.MaxDiskMiB = sender.StorageDisk, "q", -1
		}, "sending_queue.disk.max_disk_mib"},
		{"disk policy", func(q *sender.QueueConfig) {
			q.Storage, q.Disk.Dir, q.Disk.FullPolicy = sender.StorageDisk, "q", "drop_newest"
		}, "sending_queue.disk.full_policy"},
		{"disk keys ignored in memory", func(q *sender.QueueConfig) { q.Disk.MaxDiskMiB = -1 }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sender.Config{Queue: sender.NewDefaultQueueConfig(), Retry: sender.NewDefaultRetryConfig()}
			tt.mod(&cfg.Queue)
			err := cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

// TestDiskQueueOutlivesRetryDeadline: with a disk queue and no max_age, a batch is retried past
// max_elapsed_time until the destination takes it.
func TestDiskQueueOutlivesRetryDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := failUntil(time.Now().Add(10*time.Minute), errUnavailable)
		cfg := sender.Config{Queue: diskQueue(t.TempDir()), Retry: fastRetry()}
		cfg.Retry.MaxElapsedTime, cfg.Retry.MaxAttempts = time.Second, 3
		s, m := newSender(t, next, cfg)
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := s.Consume(t.Context(), batch(5)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(11 * time.Minute) // fake time
		synctest.Wait()
		if c := read(t, m); c.exported != 15 || c.failed != 0 {
			t.Errorf("counts %+v, want all 15 exported, none dropped", c)
		}
		if r := testutil.MetricValue(t, m.Registry, "otlp_export_retries_total", "exporter", "test"); r == 0 {
			t.Error("no retry counted")
		}
		if err := s.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, kept := diskCounts(t, m); kept != 0 {
			t.Errorf("kept %v items, want 0", kept)
		}
	})
}

// TestDiskQueueMaxAge: with max_age a batch that keeps failing goes back to the queue after
// each round of retries and is dropped, counted, once older than max_age.
func TestDiskQueueMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error { return errUnavailable }}
		cfg := sender.Config{Queue: diskQueue(t.TempDir()), Retry: fastRetry()}
		cfg.Queue.Disk.MaxAge = time.Minute
		cfg.Retry.MaxElapsedTime = time.Hour // bounded by max_age
		s, m := newSender(t, next, cfg)
		_ = s.Start(t.Context())
		_ = s.Consume(t.Context(), batch(4))
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if maxAge, _ := diskCounts(t, m); maxAge != 0 {
			t.Fatalf("dropped %v items before max_age", maxAge)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if maxAge, _ := diskCounts(t, m); maxAge != 4 {
			t.Errorf("dropped %v items with reason max_age, want 4", maxAge)
		}
		if c := read(t, m); c.failed != 0 {
			t.Errorf("counts %+v: a disk queue never drops for export_failed on a retryable error", c)
		}
		_ = s.Shutdown(t.Context())
	})
}

// TestDiskQueueKeepsAndResumes: shutdown with undelivered batches keeps them (not dropped);
// a sender reopened on the directory delivers them.
func TestDiskQueueKeepsAndResumes(t *testing.T) {
	dir := t.TempDir()
	cfg := sender.Config{Queue: diskQueue(dir), Retry: fastRetry()}
	down := &fakeNext{fn: func(ctx context.Context, _ int, _ pipeline.Batch) error { return errUnavailable }}
	s, m := newSender(t, down, cfg)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Consume(t.Context(), batch(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := read(t, m); c != (counts{}) {
		t.Errorf("counts %+v: nothing is exported or dropped", c)
	}
	if _, kept := diskCounts(t, m); kept != 15 {
		t.Errorf("kept %v items, want 15", kept)
	}
	if err := s.Consume(t.Context(), batch(1)); !errors.Is(err, sender.ErrStopped) {
		t.Errorf("Consume after Shutdown: %v", err)
	}

	got := make(chan int, 5)
	up := &fakeNext{fn: func(_ context.Context, _ int, b pipeline.Batch) error { got <- b.Items; return nil }}
	s2, m2 := newSender(t, up, cfg)
	if err := s2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 5; want++ {
		if n := <-got; n != want {
			t.Fatalf("batch of %d items delivered, want %d (in order)", n, want)
		}
	}
	if err := s2.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := read(t, m2); c.exported != 15 {
		t.Errorf("after restart: %+v, want 15 exported", c)
	}
	if _, kept := diskCounts(t, m2); kept != 0 {
		t.Errorf("kept %v, want 0", kept)
	}
}

// TestDiskQueueShutdownLetsAttemptFinish: shutdown stops retrying at once but an attempt in
// flight completes, and is then acknowledged.
func TestDiskQueueShutdownLetsAttemptFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	next := &fakeNext{fn: func(_ context.Context, n int, _ pipeline.Batch) error {
		if n > 1 {
			return errUnavailable // the second batch, if fetched before Close, is kept all the same
		}
		close(started)
		<-release
		return nil
	}}
	s, m := newSender(t, next, sender.Config{Queue: diskQueue(t.TempDir()), Retry: fastRetry()})
	_ = s.Start(t.Context())
	_ = s.Consume(t.Context(), batch(3))
	_ = s.Consume(t.Context(), batch(4))
	<-started
	done := make(chan error)
	go func() { done <- s.Shutdown(t.Context()) }()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := read(t, m); c.exported != 3 {
		t.Errorf("counts %+v, want the 3 in flight exported", c)
	}
	if _, kept := diskCounts(t, m); kept != 4 {
		t.Errorf("kept %v, want the 4 never started", kept)
	}
}

// blocked is a next that holds every attempt until the test ends.
func blocked() *fakeNext {
	return &fakeNext{fn: func(ctx context.Context, _ int, _ pipeline.Batch) error {
		<-ctx.Done()
		return ctx.Err()
	}}
}

func TestDiskQueueFullBlockRefusesThrottled(t *testing.T) {
	cfg := sender.Config{Queue: diskQueue(t.TempDir()), Retry: fastRetry()}
	cfg.Queue.BlockTimeout = 0
	s, m := newSender(t, blocked(), cfg)
	_ = s.Start(t.Context())
	body := pipeline.Batch{Signal: pipeline.SignalTraces, Body: make([]byte, 3000), Items: 1}
	var err error
	accepted := 0
	for range 100 {
		if err = s.Consume(t.Context(), body); err != nil {
			break
		}
		accepted++
	}
	if _, ok := resilience.RetryAfter(err); !ok || !errors.Is(err, diskq.ErrFull) || resilience.IsPermanent(err) {
		t.Fatalf("after %d batches: %v, want a throttled queue-full error", accepted, err)
	}
	if accepted < 10 || accepted > 21 {
		t.Errorf("accepted %d batches of 3000 bytes in 64 KiB", accepted)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	_ = s.Shutdown(ctx)
	if c := read(t, m); c.queueFull != 0 {
		t.Errorf("counts %+v: block never drops", c)
	}
}

func TestDiskQueueFullDropOldestCounts(t *testing.T) {
	cfg := sender.Config{Queue: diskQueue(t.TempDir()), Retry: fastRetry()}
	cfg.Queue.FullPolicy = sender.PolicyDropOldest // inherited by the disk table
	s, m := newSender(t, blocked(), cfg)
	_ = s.Start(t.Context())
	body := pipeline.Batch{Signal: pipeline.SignalTraces, Body: make([]byte, 3000), Items: 2}
	for i := range 60 {
		if err := s.Consume(t.Context(), body); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	_ = s.Shutdown(ctx)
	c := read(t, m)
	_, kept := diskCounts(t, m)
	if c.queueFull == 0 || c.queueFull+kept != 120 {
		t.Errorf("dropped %v (queue_full) + kept %v, want > 0 and 120 in all", c.queueFull, kept)
	}
}

// TestDiskQueueWaitsForDirectory: a sender replacing another on the same directory (a reload)
// opens the queue once the old one shut down; batches offered meanwhile wait.
func TestDiskQueueWaitsForDirectory(t *testing.T) {
	dir := t.TempDir()
	cfg := sender.Config{Queue: diskQueue(dir), Retry: fastRetry()}
	old, _ := newSender(t, blocked(), cfg)
	_ = old.Start(t.Context())
	_ = old.Consume(t.Context(), batch(2))

	var delivered atomic.Int64
	got := make(chan struct{}, 2)
	next := &fakeNext{fn: func(_ context.Context, _ int, b pipeline.Batch) error {
		delivered.Add(int64(b.Items))
		got <- struct{}{}
		return nil
	}}
	s, _ := newSender(t, next, cfg)
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start while the directory is held: %v", err)
	}
	short := cfg
	short.Queue.BlockTimeout = 0
	probe, _ := newSender(t, next, short)
	_ = probe.Start(t.Context())
	if err := probe.Consume(t.Context(), batch(1)); !errors.Is(err, sender.ErrQueueNotOpen) {
		t.Errorf("Consume while the directory is held, no block timeout: %v", err)
	}
	_ = probe.Shutdown(t.Context())

	consumed := make(chan error)
	go func() { consumed <- s.Consume(t.Context(), batch(3)) }() // waits up to block_timeout
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	_ = old.Shutdown(ctx)
	if err := <-consumed; err != nil {
		t.Fatal(err)
	}
	<-got
	<-got
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := delivered.Load(); n != 5 {
		t.Errorf("delivered %d items, want the old sender's 2 and the new 3", n)
	}
}

func TestDiskQueueMetrics(t *testing.T) {
	s, m := newSender(t, blocked(), sender.Config{Queue: diskQueue(t.TempDir()), Retry: fastRetry()})
	_ = s.Start(t.Context())
	for range 3 {
		_ = s.Consume(t.Context(), batch(2))
	}
	ex := []string{"exporter", "test"}
	if v := testutil.MetricValue(t, m.Registry, "otlp_queue_disk_bytes", ex...); v <= 0 {
		t.Errorf("otlp_queue_disk_bytes = %v", v)
	}
	if v := testutil.MetricValue(t, m.Registry, "otlp_queue_records", ex...); v != 3 {
		t.Errorf("otlp_queue_records = %v, want 3", v)
	}
	if v := testutil.MetricValue(t, m.Registry, "otlp_queue_size", "component", "exporter/test"); v != 6 {
		t.Errorf("otlp_queue_size = %v, want 6 items", v)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	_ = s.Shutdown(ctx)
	if v := testutil.MetricValue(t, m.Registry, "otlp_queue_disk_bytes", ex...); v != 0 {
		t.Errorf("otlp_queue_disk_bytes = %v after shutdown: the series should be gone", v)
	}
}

// failUntil is a destination that answers err until t (on the test's clock), then accepts.
func failUntil(t time.Time, err error) *fakeNext {
	return &fakeNext{fn: func(context.Context, int, pipeline.Batch) error {
		if time.Now().Before(t) {
			return err
		}
		return nil
	}}
}

// TestConfigurationErrorHeld: answers that say the destination is misconfigured (a wrong
// credential, path or compression) rather than the data bad never drop queued data: the
// sender is unhealthy at once, says why, and delivers everything once the destination is fixed.
func TestConfigurationErrorHeld(t *testing.T) {
	answers := map[string]error{
		"grpc unauthenticated": resilience.FromGRPCStatus(status.New(codes.Unauthenticated, "missing bearer token")),
		"grpc unimplemented":   resilience.FromGRPCStatus(status.New(codes.Unimplemented, "grpc: Decompressor is not installed for grpc-encoding \"zstd\"")),
		"http 403":             resilience.FromHTTPResponse(403, nil, "forbidden"),
		"http 415":             resilience.FromHTTPResponse(415, nil, "unsupported Content-Encoding"),
	}
	for name, answer := range answers {
		for _, storage := range []string{"disk", "memory"} {
			t.Run(name+" "+storage, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					next := failUntil(time.Now().Add(10*time.Minute), answer)
					cfg := sender.Config{Queue: diskQueue(t.TempDir()), Retry: fastRetry()}
					if storage == "memory" {
						cfg.Queue = queue(10, sender.PolicyBlock)
						cfg.Retry.MaxElapsedTime = time.Hour
					}
					s, m := newSender(t, next, cfg)
					if err := s.Start(t.Context()); err != nil {
						t.Fatal(err)
					}
					for range 3 {
						if err := s.Consume(t.Context(), batch(5)); err != nil {
							t.Fatal(err)
						}
					}
					time.Sleep(time.Second) // fake time: a few failed attempts
					synctest.Wait()
					st := s.Status()
					if s.Healthy() || st.Healthy || !strings.Contains(st.LastError, "configuration error") || !strings.Contains(st.LastError, "held") {
						t.Errorf("while misconfigured: healthy %v, status %+v; want unhealthy at once with the cause and the fix", s.Healthy(), st)
					}
					time.Sleep(10 * time.Minute)
					synctest.Wait()
					if c := read(t, m); c.exported != 15 || c.failed != 0 {
						t.Errorf("counts %+v, want all 15 exported once fixed, none dropped", c)
					}
					if !s.Healthy() {
						t.Error("still unhealthy after deliveries succeeded")
					}
					if err := s.Shutdown(t.Context()); err != nil {
						t.Fatal(err)
					}
				})
			})
		}
	}
}

// A disk queue whose directory another queue holds reports how long it has been locked out,
// and 0 once it has the directory.
func TestDiskQueueReportsLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	cfg := sender.Config{Queue: diskQueue(dir), Retry: fastRetry()}
	up := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error { return nil }}
	first, _ := newSender(t, up, cfg)
	if err := first.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := first.Status(); st.LockedFor != 0 {
		t.Fatalf("the queue holding the directory reports locked for %v", st.LockedFor)
	}
	second, _ := newSender(t, up, cfg)
	if err := second.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer second.Shutdown(t.Context())
	if st := second.Status(); st.LockedFor <= 0 {
		t.Fatalf("second queue on the same directory: LockedFor %v, want > 0", st.LockedFor)
	}
	if err := first.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for second.Status().LockedFor != 0 { // the opener retries every 100ms
		select {
		case <-ctx.Done():
			t.Fatal("the second queue never got the directory after the first let it go")
		case <-tick.C:
		}
	}
}

// TestDiskQueueDropOldestNeverWaitsForDeliveries: with drop_oldest, deliveries stuck against an
// upstream that does not answer hold every byte of the disk queue, and still no batch offered is
// refused: the oldest are taken off disk, and once the upstream answers they are delivered
// (exported, not counted dropped).
func TestDiskQueueDropOldestNeverWaitsForDeliveries(t *testing.T) {
	cfg := sender.Config{Queue: diskQueue(t.TempDir()), Retry: fastRetry()}
	cfg.Queue.FullPolicy = sender.PolicyDropOldest
	cfg.Queue.BlockTimeout = 0 // a Put that would wait is refused at once
	cfg.Queue.NumConsumers = 32
	started := make(chan struct{}, 1000)
	up := make(chan struct{})
	next := &fakeNext{fn: func(ctx context.Context, _ int, _ pipeline.Batch) error {
		select {
		case started <- struct{}{}:
		default: // only retries after the test stopped counting get here
		}
		select {
		case <-up:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	s, m := newSender(t, next, cfg)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	body := pipeline.Batch{Signal: pipeline.SignalTraces, Body: make([]byte, 3000), Items: 2}
	const total = 30 // in flight at once, more than the 64 KiB of disk holds
	for i := range total {
		if err := s.Consume(t.Context(), body); err != nil {
			t.Fatalf("batch %d refused while deliveries hold the queue: %v", i, err)
		}
		<-started // taken by a consumer: in flight
	}
	close(up)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c := read(t, m)
	_, kept := diskCounts(t, m)
	if c.exported != 2*total || c.queueFull != 0 || kept != 0 {
		t.Errorf("exported %v, dropped %v (queue_full), kept %v: want all %d delivered", c.exported, c.queueFull, kept, 2*total)
	}
}
