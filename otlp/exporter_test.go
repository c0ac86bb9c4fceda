package otlp

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// onTraces decodes a traces request and calls f holding mu; other signals are accepted as
// they are. A request that does not decode is refused for good.
func onTraces(mu *sync.Mutex, r Request, f func(ptrace.Traces)) error {
	if r.Signal != SignalTraces {
		return nil
	}
	td, err := r.Traces()
	if err != nil {
		return Permanent(err)
	}
	mu.Lock()
	defer mu.Unlock()
	f(td)
	return nil
}

func TestCustomExporterGetsRetriesAndDecodableRequests(t *testing.T) {
	ctx := ctxT(t, 20*time.Second)
	var calls atomic.Int32
	var mu sync.Mutex
	var names []string
	exp := ExporterFunc(func(_ context.Context, r Request) error {
		switch calls.Add(1) {
		case 1:
			return errors.New("backend hiccup") // retried
		case 2:
			return Throttled(errors.New("slow down"), 10*time.Millisecond) // retried after the pause
		}
		return onTraces(&mu, r, func(td ptrace.Traces) {
			rs := td.ResourceSpans()
			for i := range rs.Len() {
				ss := rs.At(i).ScopeSpans()
				for j := range ss.Len() {
					for k := range ss.At(j).Spans().Len() {
						names = append(names, ss.At(j).Spans().At(k).Name())
					}
				}
			}
		})
	})
	c, err := New(ctx, WithEnv(nil), WithExporter(exp), WithMetricInterval(time.Hour),
		WithRetry(RetryConfig{InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond}),
		WithBatch(BatchConfig{Timeout: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	spansOnly(ctx, c, 20)
	flushAndShutdown(ctx, t, c)
	mu.Lock()
	defer mu.Unlock()
	st := c.Stats()
	if len(names) != 20 || names[0] != "op" || st.Traces.Exported != 20 || st.Retries < 2 {
		t.Errorf("got %d spans, stats %+v, retries %d", len(names), st.Traces, st.Retries)
	}
}

func TestPermanentErrorIsCountedDropped(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	exp := ExporterFunc(func(context.Context, Request) error { return Permanent(errors.New("bad data")) })
	c, err := New(ctx, WithEnv(nil), WithExporter(exp), WithMetricInterval(time.Hour), WithBatch(BatchConfig{Timeout: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	spansOnly(ctx, c, 7)
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Traces.Dropped["export_failed"] != 7 || st.Traces.Exported != 0 {
		t.Errorf("stats = %+v", st.Traces)
	}
}

// TestFullBuffersDropCounted fills the sending queue and the memory buffer behind a stalled
// backend: with the drop policy the application never waits, and every span is exported or
// counted dropped.
func TestFullBuffersDropCounted(t *testing.T) {
	for _, tc := range []struct {
		policy string
		n      int64 // block waits 5ms per span once full: fewer spans
	}{{FullDrop, 2000}, {FullBlock, 300}} {
		policy, n := tc.policy, tc.n
		t.Run(policy, func(t *testing.T) {
			ctx := ctxT(t, 20*time.Second)
			release := make(chan struct{})
			exp := ExporterFunc(func(ctx context.Context, _ Request) error {
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			c, err := New(ctx, WithEnv(nil), WithExporter(exp), WithMetricInterval(time.Hour), WithTimeout(time.Minute),
				WithBatch(BatchConfig{MaxSize: 10, QueueSize: 100, MemoryLimit: 2048, Timeout: 5 * time.Millisecond}),
				WithFullPolicy(policy, 5*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			spansOnly(ctx, c, int(n))
			st := c.Stats()
			if st.Traces.Dropped["queue_full"] == 0 {
				t.Errorf("no drops with a stalled backend: %+v", st.Traces)
			}
			close(release)
			if err := c.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			st = c.Stats()
			if st.Traces.Accepted != n || st.Traces.Exported+st.Traces.DroppedTotal() != n {
				t.Errorf("accepted %d, exported %d + dropped %v != %d", st.Traces.Accepted, st.Traces.Exported, st.Traces.Dropped, n)
			}
		})
	}
}

// TestRequestsAreFullBatches checks that spans made faster than the batch timeout travel in
// requests of exactly MaxSize spans, the remainder in one request at the flush, each request
// holding consecutive spans in order (two queue workers may deliver requests out of order).
func TestRequestsAreFullBatches(t *testing.T) {
	ctx := ctxT(t, 20*time.Second)
	var mu sync.Mutex
	var sizes []int
	var firsts []int // first span of each request
	exp := ExporterFunc(func(_ context.Context, r Request) error {
		return onTraces(&mu, r, func(td ptrace.Traces) {
			sizes = append(sizes, r.Items)
			if n := td.SpanCount(); n != r.Items {
				t.Errorf("request of %d spans says %d items", n, r.Items)
			}
			spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			first, _ := strconv.Atoi(spans.At(0).Name())
			for i := range spans.Len() {
				if name := spans.At(i).Name(); name != strconv.Itoa(first+i) {
					t.Errorf("span %d of a request starting at %d is %q", i, first, name)
				}
			}
			firsts = append(firsts, first)
		})
	})
	c, err := New(ctx, WithEnv(nil), WithExporter(exp), WithMetricInterval(time.Hour),
		WithBatch(BatchConfig{MaxSize: 16, QueueSize: 64, Timeout: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Tracer("batches")
	const n = 16*40 + 5
	for i := range n {
		_, sp := tr.Start(ctx, strconv.Itoa(i))
		sp.End()
	}
	flushAndShutdown(ctx, t, c)
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 41 {
		t.Fatalf("request sizes %v, want 40 of 16 and one of 5", sizes)
	}
	slices.Sort(firsts)
	for i, first := range firsts {
		if first != 16*i {
			t.Fatalf("requests start at %v, want every 16th span", firsts)
		}
	}
	slices.Sort(sizes)
	if sizes[0] != 5 || sizes[1] != 16 || sizes[40] != 16 {
		t.Fatalf("request sizes %v, want 40 of 16 and one of 5", sizes)
	}
	if st := c.Stats(); st.Traces.Exported != n || st.Traces.DroppedTotal() != 0 {
		t.Errorf("stats %+v", st.Traces)
	}
}

// TestShrunkMaxSizeSplitsBufferedSpans checks that spans buffered before a reload lowered
// max_size leave in requests of the new size.
func TestShrunkMaxSizeSplitsBufferedSpans(t *testing.T) {
	ctx := ctxT(t, 20*time.Second)
	var mu sync.Mutex
	var sizes []int
	exp := ExporterFunc(func(_ context.Context, r Request) error {
		if r.Signal == SignalTraces {
			mu.Lock()
			sizes = append(sizes, r.Items)
			mu.Unlock()
		}
		return nil
	})
	batch := BatchConfig{MaxSize: 100, QueueSize: 1000, Timeout: time.Hour}
	c, err := New(ctx, WithEnv(nil), WithExporter(exp), WithMetricInterval(time.Hour), WithBatch(batch))
	if err != nil {
		t.Fatal(err)
	}
	spansOnly(ctx, c, 50)
	cfg := c.Config()
	cfg.Batch.MaxSize = 16
	c.limits.set(cfg.Batch) // what a reload does
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{2, 16, 16, 16}) {
		t.Errorf("request sizes %v, want 16, 16, 16 and 2", sizes)
	}
}

// Without a configuration file the tracer provider gets the SDK's sampler itself: the ratio
// set in code still decides.
func TestSamplingRatioWithoutConfigFile(t *testing.T) {
	for _, c := range []struct {
		ratio float64
		want  int64
	}{{0, 0}, {1, 50}} {
		ctx := ctxT(t, 10*time.Second)
		var got atomic.Int64
		exp := ExporterFunc(func(_ context.Context, r Request) error {
			if r.Signal == SignalTraces {
				got.Add(int64(r.Items))
			}
			return nil
		})
		cl, err := New(ctx, WithEnv(nil), WithExporter(exp), WithMetricInterval(time.Hour), WithSamplingRatio(c.ratio))
		if err != nil {
			t.Fatal(err)
		}
		spansOnly(ctx, cl, 50)
		flushAndShutdown(ctx, t, cl)
		if got.Load() != c.want {
			t.Errorf("ratio %v: %d spans exported, want %d", c.ratio, got.Load(), c.want)
		}
	}
}
