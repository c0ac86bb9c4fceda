package otlp

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// waitFor polls cond (the client's own counters) until it holds or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// outageOpts: attempts time out fast and the retry window (MaxElapsed) is far shorter than
// the outage, like the official SDK's one minute against a longer outage.
func outageOpts(addr string) []Option {
	return []Option{WithEnv(nil), WithLogger(slog.New(slog.DiscardHandler)), WithEndpoint(addr), WithInsecure(), WithTimeout(200 * time.Millisecond),
		WithRetry(RetryConfig{InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxElapsed: 300 * time.Millisecond}),
		WithCircuitBreaker(BreakerConfig{FailureThreshold: 3, RecoveryTimeout: 100 * time.Millisecond}),
		WithBatch(BatchConfig{MaxSize: 50, Timeout: 20 * time.Millisecond}),
		WithMetricInterval(time.Hour)}
}

func spansOnly(ctx context.Context, c *Client, n int) {
	tr := c.Tracer("outage")
	for range n {
		_, sp := tr.Start(ctx, "op")
		sp.End()
	}
}

func TestOutageWithDiskBufferLosesNothing(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	sink := testutil.NewSink(t)
	proxy := testutil.NewTCPProxy(t, sink.GRPCAddr)
	proxy.Blackhole()
	c, err := New(ctx, append(outageOpts(proxy.Addr()), WithDiskBuffer(t.TempDir()))...)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	spansOnly(ctx, c, n)
	// Retries go on well past the retry window: a disk buffer never gives data up.
	start := time.Now()
	waitFor(ctx, t, "retries past the retry window", func() bool {
		return time.Since(start) > time.Second && c.Stats().Retries >= 10
	})
	if st := c.Stats(); st.Traces.DroppedTotal() != 0 || st.Traces.Exported != 0 {
		t.Fatalf("during the outage: %+v", st.Traces)
	}
	proxy.Resume()
	if err := sink.WaitItems(ctx, pipeline.SignalTraces, n); err != nil {
		t.Fatalf("spans at the sink = %d, want %d: %v", sink.Items(pipeline.SignalTraces), n, err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Traces.Accepted != n || st.Traces.DroppedTotal() != 0 {
		t.Errorf("stats = %+v", st.Traces)
	}
}

func TestOutageWithoutDiskBufferCountsEveryDrop(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	sink := testutil.NewSink(t)
	proxy := testutil.NewTCPProxy(t, sink.GRPCAddr)
	proxy.Blackhole()
	c, err := New(ctx, outageOpts(proxy.Addr())...)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	spansOnly(ctx, c, n/2)
	waitFor(ctx, t, "batches given up after the retry window", func() bool {
		return c.Stats().Traces.Dropped["export_failed"] > 0
	})
	proxy.Resume()
	spansOnly(ctx, c, n/2)
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	got := int64(sink.Items(pipeline.SignalTraces))
	if st.Traces.Accepted != n || got != st.Traces.Exported || got+st.Traces.DroppedTotal() != n {
		t.Errorf("accepted %d = delivered %d (exported %d) + dropped %v? ", st.Traces.Accepted, got, st.Traces.Exported, st.Traces.Dropped)
	}
	if st.Traces.DroppedTotal() == 0 || got == 0 {
		t.Errorf("want some drops and some deliveries: %+v, delivered %d", st.Traces, got)
	}
}

func TestRestartDeliversTheDiskBuffer(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	sink := testutil.NewSink(t)
	proxy := testutil.NewTCPProxy(t, sink.GRPCAddr)
	proxy.Blackhole()
	dir := t.TempDir()
	c1, err := New(ctx, append(outageOpts(proxy.Addr()), WithDiskBuffer(dir))...)
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	spansOnly(ctx, c1, n)
	waitFor(ctx, t, "spans on disk", func() bool { return c1.Stats().Buffered == 0 })
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c1.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	st := c1.Stats()
	// Kept holds the spans and the metric points of the final collection.
	if st.Kept != st.Traces.Accepted+st.Metrics.Accepted || st.Traces.Accepted != n || st.Traces.DroppedTotal() != 0 || sink.Items(pipeline.SignalTraces) != 0 {
		t.Fatalf("first run: kept %d, %+v, delivered %d", st.Kept, st.Traces, sink.Items(pipeline.SignalTraces))
	}
	// The application starts again with the collector back.
	c2, err := New(ctx, append(outageOpts(sink.GRPCAddr), WithDiskBuffer(dir))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.WaitItems(ctx, pipeline.SignalTraces, n); err != nil {
		t.Fatalf("spans at the sink = %d, want %d: %v", sink.Items(pipeline.SignalTraces), n, err)
	}
	if err := c2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
