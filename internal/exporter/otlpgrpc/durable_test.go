package otlpgrpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/queue"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

// diskConfig is an exporter to endpoint with a small disk queue in dir and retries whose
// deadline (5ms) is far shorter than the outages below.
func diskConfig(endpoint, dir string) otlpgrpc.Config {
	cfg := baseConfig(endpoint)
	cfg.Queue.Storage = sender.StorageDisk
	cfg.Queue.Disk.Dir = dir
	cfg.Queue.Disk.MaxDiskMiB, cfg.Queue.Disk.MaxDiskBytes = 0, 256<<10
	cfg.Queue.Disk.SegmentMiB, cfg.Queue.Disk.SegmentBytes = 0, 32<<10
	cfg.Queue.Disk.Fsync = queue.FsyncNever
	cfg.Retry.MaxElapsedTime, cfg.Retry.MaxAttempts = 5*time.Millisecond, 2
	return cfg
}

// waitAccepted waits until the flaky server accepted n items.
func waitAccepted(t *testing.T, f *testutil.FlakyServer, n int) {
	t.Helper()
	ctx := waitCtx(t)
	for f.AcceptedItems() < n {
		if err := f.WaitRequests(ctx, len(f.Requests())+1); err != nil {
			t.Fatalf("%d of %d items accepted: %v", f.AcceptedItems(), n, err)
		}
	}
}

// TestDiskQueueRidesOutAnOutage: the upstream refuses for longer than any retry deadline, then
// comes back: every item arrives and none is counted dropped.
func TestDiskQueueRidesOutAnOutage(t *testing.T) {
	flaky := testutil.NewFlakyServer(t)
	flaky.SetDefault(testutil.Unavailable(0))
	h := start(t, diskConfig(flaky.GRPCAddr, t.TempDir()))
	const batches, per = 6, 10
	for i := range batches {
		if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, per, i*per))); err != nil {
			t.Fatal(err)
		}
	}
	// 60 refusals: each batch went through several rounds of retries, each past its deadline.
	if err := flaky.WaitRequests(waitCtx(t), 60); err != nil {
		t.Fatal(err)
	}
	if got := h.counter(t, "otlp_dropped_spans_total"); got != 0 {
		t.Fatalf("%v spans dropped during the outage", got)
	}
	flaky.SetDefault(testutil.Accept())
	waitAccepted(t, flaky, batches*per)
	if got := h.counter(t, "otlp_dropped_spans_total"); got != 0 {
		t.Errorf("%v spans counted dropped", got)
	}
	if got := h.counter(t, "otlp_export_retries_total", "exporter", "otlp/test"); got == 0 {
		t.Error("no retry counted")
	}
}

// TestDiskQueueSurvivesRestart: an exporter shut down with undelivered batches keeps them on
// disk; one started on the same directory delivers them.
func TestDiskQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	flaky := testutil.NewFlakyServer(t)
	flaky.SetDefault(testutil.Unavailable(0))
	first, err := otlpgrpc.New(diskConfig(flaky.GRPCAddr, dir), otlpgrpc.Settings{Name: "otlp/test", Metrics: selftel.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	const batches, per = 5, 8
	for i := range batches {
		if err := first.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, per, i*per))); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Shutdown(waitCtx(t)); err != nil {
		t.Fatal(err)
	}

	sink := testutil.NewSink(t)
	h := start(t, diskConfig(sink.GRPCAddr, dir))
	if err := sink.WaitSpans(waitCtx(t), batches*per); err != nil {
		t.Fatal(err)
	}
	assertAllArrived(t, []*testutil.Sink{sink}, batches*per)
	_ = h
}

func TestDiskQueueFull(t *testing.T) {
	for _, policy := range []string{sender.PolicyBlock, sender.PolicyDropOldest} {
		t.Run(policy, func(t *testing.T) {
			flaky := testutil.NewFlakyServer(t)
			flaky.SetDefault(testutil.Unavailable(0))
			cfg := diskConfig(flaky.GRPCAddr, t.TempDir())
			cfg.Queue.Disk.MaxDiskBytes, cfg.Queue.Disk.SegmentBytes = 64<<10, 8<<10
			cfg.Queue.FullPolicy = policy
			cfg.Queue.BlockTimeout = 0
			h := start(t, cfg)
			b := testutil.TracesBatch(testutil.Traces(1, 20, 0)) // about 5 KiB
			var refused error
			for range 40 {
				if err := h.exp.Consume(t.Context(), b); err != nil {
					refused = err
					break
				}
			}
			dropped := h.counter(t, "otlp_dropped_spans_total", "reason", selftel.ReasonQueueFull)
			switch policy {
			case sender.PolicyBlock:
				if _, ok := resilience.RetryAfter(refused); !ok || !errors.Is(refused, queue.ErrFull) {
					t.Errorf("full queue with block: %v, want a throttled refusal", refused)
				}
				if dropped != 0 {
					t.Errorf("%v spans dropped under block", dropped)
				}
			default:
				if refused != nil || dropped == 0 {
					t.Errorf("drop_oldest: refused %v, dropped %v; want no refusal and counted drops", refused, dropped)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
			defer cancel()
			_ = h.exp.Shutdown(ctx)
		})
	}
}
