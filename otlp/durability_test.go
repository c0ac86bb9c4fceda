package otlp

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
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

// TestShutdownIsBoundedWithoutCollector: with context.Background() and nothing listening,
// ForceFlush and Shutdown return once the shutdown timeout passes, not after the retry window
// (5 minutes by default) or never; what was not sent is counted dropped or kept on disk.
func TestShutdownIsBoundedWithoutCollector(t *testing.T) {
	for _, disk := range []bool{false, true} {
		name := map[bool]string{false: "memory", true: "disk"}[disk]
		t.Run(name, func(t *testing.T) {
			watchdog := ctxT(t, 20*time.Second)
			opts := []Option{WithEnv(nil), WithLogger(slog.New(slog.DiscardHandler)),
				WithEndpoint("http://" + testutil.FreeAddr(t)), WithShutdownTimeout(300 * time.Millisecond)}
			if disk {
				opts = append(opts, WithDiskBuffer(t.TempDir()))
			}
			c, err := New(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			const n = 100
			spansOnly(context.Background(), c, n)
			for _, call := range []struct {
				name string
				f    func(context.Context) error
			}{{"ForceFlush", c.ForceFlush}, {"Shutdown", c.Shutdown}} {
				done := make(chan error, 1)
				go func() { done <- call.f(context.Background()) }()
				select {
				case err = <-done:
				case <-watchdog.Done():
					t.Fatalf("%s(context.Background()) still blocked long after the 300ms shutdown timeout", call.name)
				}
				if call.name == "ForceFlush" && (err == nil || !strings.Contains(err.Error(), "not delivered")) {
					t.Errorf("ForceFlush with no collector: %v, want an error counting what is not delivered", err)
				}
				if call.name == "Shutdown" && !disk && (err == nil || !strings.Contains(err.Error(), "shutdown_timeout")) {
					t.Errorf("Shutdown with no collector: %v, want an error naming the shutdown timeout", err)
				}
			}
			st := c.Stats()
			if st.Traces.Accepted != n || st.Traces.Exported != 0 {
				t.Fatalf("stats %+v", st.Traces)
			}
			all := st.Traces.Accepted + st.Metrics.Accepted
			if disk && (st.Kept != all || st.Traces.DroppedTotal() != 0) {
				t.Errorf("disk buffer: kept %d of %d, dropped %v", st.Kept, all, st.Traces.Dropped)
			}
			if !disk && (st.Traces.Dropped[selftel.ReasonShutdown] != n || st.Kept != 0) {
				t.Errorf("memory: dropped %v, kept %d, want all %d spans dropped as %q", st.Traces.Dropped, st.Kept, n, selftel.ReasonShutdown)
			}
		})
	}
}

func TestShutdownTimeoutFromFile(t *testing.T) {
	if DefaultConfig().ShutdownTimeout != 10*time.Second {
		t.Errorf("default shutdown timeout %s, docs say 10s", DefaultConfig().ShutdownTimeout)
	}
	path := filepath.Join(t.TempDir(), "otlp.toml")
	if err := os.WriteFile(path, []byte("[otlp]\nshutdown_timeout = \"2s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A collector to shut down against: without one the final metrics could not be delivered,
	// and a short Shutdown context ended before the batchers had stopped, leaving them running.
	sink := testutil.NewSink(t)
	c, err := New(context.Background(), WithEnv(nil), FromConfigFile(path), WithEndpoint("http://"+sink.GRPCAddr),
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}()
	if got := c.Config().ShutdownTimeout; got != 2*time.Second {
		t.Errorf("shutdown timeout from [otlp] shutdown_timeout = %s, want 2s", got)
	}
}

// TestDeliveryResumesWithinTheRetryCap: after a long outage (the backoff at its cap), delivery
// resumes within one retry cap plus the breaker's recovery and one attempt of the collector's
// return, as docs/sdk.md says, with and without a disk buffer.
func TestDeliveryResumesWithinTheRetryCap(t *testing.T) {
	const (
		maxDelay = 250 * time.Millisecond
		recovery = 250 * time.Millisecond
		attempt  = 200 * time.Millisecond
		slack    = 1500 * time.Millisecond // scheduling under -race on a loaded 2-core machine
	)
	for _, disk := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "disk"}[disk], func(t *testing.T) {
			ctx := ctxT(t, 30*time.Second)
			sink := testutil.NewSink(t)
			proxy := testutil.NewTCPProxy(t, sink.GRPCAddr)
			proxy.Blackhole()
			opts := []Option{WithEnv(nil), WithLogger(slog.New(slog.DiscardHandler)), WithEndpoint("http://" + proxy.Addr()), WithTimeout(attempt),
				WithRetry(RetryConfig{InitialInterval: 20 * time.Millisecond, MaxInterval: maxDelay, MaxElapsed: time.Minute}),
				WithCircuitBreaker(BreakerConfig{FailureThreshold: 3, RecoveryTimeout: recovery}),
				WithBatch(BatchConfig{MaxSize: 50, Timeout: 20 * time.Millisecond}), WithMetricInterval(time.Hour)}
			if disk {
				opts = append(opts, WithDiskBuffer(t.TempDir()))
			}
			c, err := New(ctx, opts...)
			if err != nil {
				t.Fatal(err)
			}
			const n = 200
			spansOnly(ctx, c, n)
			// Long enough for the backoff to reach its cap: 20, 40, 80, 160, then 250 ms.
			waitFor(ctx, t, "retries at the backoff cap", func() bool { return c.Stats().Retries >= 8 })
			proxy.Resume()
			back := time.Now()
			if err := sink.WaitItems(ctx, pipeline.SignalTraces, n); err != nil {
				t.Fatalf("spans at the sink = %d, want %d: %v", sink.Items(pipeline.SignalTraces), n, err)
			}
			took := time.Since(back)
			t.Logf("delivery resumed %v after the collector came back (retry cap %v, breaker recovery %v)", took.Round(time.Millisecond), maxDelay, recovery)
			if bound := maxDelay + recovery + attempt + slack; took > bound {
				t.Errorf("delivery resumed %v after the collector came back, want within %v", took, bound)
			}
			if st := c.Stats(); st.Traces.DroppedTotal() != 0 {
				t.Errorf("dropped %v", st.Traces.Dropped)
			}
			if err := c.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
