package otlp

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// emit makes n spans (a root and children, 4 attributes each), n log records and a counter.
// flushAndShutdown hands everything buffered to the destination, then stops the client.
func flushAndShutdown(ctx context.Context, t *testing.T, c *Client) {
	t.Helper()
	if err := c.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func emit(ctx context.Context, c *Client, n int) {
	tr := c.Tracer("test")
	lg := c.Logger("test")
	cnt, _ := c.Meter("test").Int64Counter("requests")
	rctx, root := tr.Start(ctx, "root")
	root.SetAttributes(attribute.String("a", "1"), attribute.Int("b", 2), attribute.Bool("c", true), attribute.Float64("d", 4))
	for i := 1; i < n; i++ {
		_, sp := tr.Start(rctx, "child")
		sp.SetAttributes(attribute.String("a", "1"), attribute.Int("b", i), attribute.Bool("c", true), attribute.Float64("d", 4))
		sp.End()
	}
	root.End()
	for i := range n {
		var r log.Record
		r.SetBody(attribute.StringValue("hello"))
		r.SetSeverity(log.SeverityInfo)
		r.AddAttributes(attribute.Int("i", i))
		lg.Emit(ctx, r)
	}
	cnt.Add(ctx, int64(n))
}

func TestEndToEnd(t *testing.T) {
	sink := testutil.NewSink(t)
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"grpc", []Option{WithEndpoint(sink.GRPCAddr), WithInsecure()}},
		{"grpc url", []Option{WithEndpoint("http://" + sink.GRPCAddr)}},
		{"http", []Option{WithProtocol(ProtocolHTTP), WithEndpoint(sink.HTTPURL)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t, 20*time.Second)
			before := [4]int{}
			for _, s := range pipeline.Signals {
				before[s] = sink.Items(s)
			}
			opts := append([]Option{WithEnv(nil), WithBearerToken("secret"), WithService("e2e", "1.2.3"),
				WithBatch(BatchConfig{MaxSize: 16, Timeout: 50 * time.Millisecond})}, tc.opts...)
			c, err := New(ctx, opts...)
			if err != nil {
				t.Fatal(err)
			}
			const n = 100
			emit(ctx, c, n)
			flushAndShutdown(ctx, t, c)
			if got := sink.Items(pipeline.SignalTraces) - before[pipeline.SignalTraces]; got != n {
				t.Errorf("spans at the sink = %d, want %d", got, n)
			}
			if got := sink.Items(pipeline.SignalLogs) - before[pipeline.SignalLogs]; got != n {
				t.Errorf("log records at the sink = %d, want %d", got, n)
			}
			if got := sink.Items(pipeline.SignalMetrics) - before[pipeline.SignalMetrics]; got == 0 {
				t.Error("no metric points at the sink")
			}
			st := c.Stats()
			if st.Traces.Accepted != n || st.Traces.Exported != n || st.Traces.DroppedTotal() != 0 {
				t.Errorf("trace stats = %+v", st.Traces)
			}
			if st.Logs.Accepted != n || st.Logs.Exported != n {
				t.Errorf("log stats = %+v", st.Logs)
			}
			if st.Metrics.Accepted == 0 || st.Metrics.Accepted != st.Metrics.Exported {
				t.Errorf("metric stats = %+v", st.Metrics)
			}
			if len(st.Endpoints) != 1 || st.Endpoints[0].Breaker != "closed" {
				t.Errorf("endpoints = %+v", st.Endpoints)
			}
			reqs := sink.Requests()
			last := reqs[len(reqs)-1]
			if h := last.Headers["authorization"]; len(h) != 1 || h[0] != "Bearer secret" {
				t.Errorf("authorization = %q", h)
			}
			// A trace: children point at the root; the resource names the service.
			td := sink.Traces()
			rs := td[len(td)-1].ResourceSpans().At(0)
			if v, _ := rs.Resource().Attributes().Get("service.name"); v.Str() != "e2e" {
				t.Errorf("service.name = %q", v.Str())
			}
			if v, _ := rs.Resource().Attributes().Get("service.version"); v.Str() != "1.2.3" {
				t.Errorf("service.version = %q", v.Str())
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	ctx := ctxT(t, 5*time.Second)
	env := map[string]string{"OTEL_SDK_DISABLED": "true"}
	c, err := New(ctx, WithEnv(func(k string) string { return env[k] }), WithEndpoint("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	emit(ctx, c, 10)
	if st := c.Stats(); st.Traces.Accepted != 0 {
		t.Errorf("disabled client accepted %d spans", st.Traces.Accepted)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
