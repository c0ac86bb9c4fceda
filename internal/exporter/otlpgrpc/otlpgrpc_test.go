package otlpgrpc_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/exporter/clientconf"
	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "Bearer s3cret-t0ken"

type harness struct {
	exp     *otlpgrpc.Exporter
	metrics *selftel.Metrics
	logs    *testutil.LogBuffer
}

func start(t *testing.T, cfg otlpgrpc.Config) harness {
	t.Helper()
	h := harness{metrics: selftel.New(), logs: &testutil.LogBuffer{}}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	exp, err := otlpgrpc.New(cfg, otlpgrpc.Settings{Name: "otlp/test", Logger: log, Metrics: h.metrics})
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.exp = exp
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := exp.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if strings.Contains(h.logs.String(), "s3cret") {
			t.Errorf("a header value appeared in the logs:\n%s", h.logs.String())
		}
	})
	return h
}

func (h harness) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return testutil.MetricValue(t, h.metrics.Registry, name, labels...)
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func baseConfig(endpoint string) otlpgrpc.Config {
	cfg := otlpgrpc.NewDefaultConfig()
	cfg.Endpoint = endpoint
	cfg.TLS.Insecure = true
	cfg.Headers = clientconf.Headers{"authorization": secret, "x-tenant": "acme"}
	cfg.Retry.InitialInterval, cfg.Retry.MaxInterval = 5*time.Millisecond, 50*time.Millisecond
	return cfg
}

func TestExportIntact(t *testing.T) {
	tests := []struct {
		name        string
		compression string
		tls         string // "", "tls", "mtls"
	}{
		{"plain gzip", otlpgrpc.CompressionGzip, ""},
		{"plain none", otlpgrpc.CompressionNone, ""},
		{"tls gzip", otlpgrpc.CompressionGzip, "tls"},
		{"mtls none", otlpgrpc.CompressionNone, "mtls"},
		{"plain zstd", otlpgrpc.CompressionZstd, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sink *testutil.Sink
			cfg := otlpgrpc.NewDefaultConfig()
			cfg.Compression = tt.compression
			cfg.Headers = clientconf.Headers{"authorization": secret, "x-tenant": "acme"}
			switch tt.tls {
			case "":
				sink = testutil.NewSink(t)
				cfg.TLS.Insecure = true
			default:
				ca := testutil.NewCA(t)
				sink = testutil.NewSink(t, testutil.WithTLS(ca.ServerTLS(t, tt.tls == "mtls")))
				cfg.TLS.CAFile = ca.CertFile
				if tt.tls == "mtls" {
					c := ca.Issue(t, "client")
					cfg.TLS.CertFile, cfg.TLS.KeyFile = c.CertFile, c.KeyFile
				}
			}
			cfg.Endpoint = sink.GRPCAddr
			h := start(t, cfg)

			td := testutil.Traces(3, 20, 0)
			md := testutil.Metrics(2, 15, 0)
			ld := testutil.Logs(2, 10, 0)
			for _, b := range []pipeline.Batch{testutil.TracesBatch(td), testutil.MetricsBatch(md), testutil.LogsBatch(ld)} {
				if err := h.exp.Consume(t.Context(), b); err != nil {
					t.Fatal(err)
				}
			}
			ctx := waitCtx(t)
			for sig, n := range map[pipeline.Signal]int{pipeline.SignalTraces: 60, pipeline.SignalMetrics: 30, pipeline.SignalLogs: 20} {
				if err := sink.WaitItems(ctx, sig, n); err != nil {
					t.Fatal(err)
				}
			}
			assertSame(t, sink, td, md, ld)
			for _, r := range sink.Requests() {
				if got := r.Headers["authorization"]; len(got) != 1 || got[0] != secret {
					t.Errorf("%s: authorization %q", r.Signal, got)
				}
				if got := r.Headers["x-tenant"]; len(got) != 1 || got[0] != "acme" {
					t.Errorf("%s: x-tenant %q", r.Signal, got)
				}
				if r.Compressed != (tt.compression != otlpgrpc.CompressionNone) {
					t.Errorf("%s: compressed %v with compression %s", r.Signal, r.Compressed, tt.compression)
				}
			}
			// The sender counts once the answer arrived, maybe after the sink saw the data:
			// Shutdown waits for that.
			if err := h.exp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if got := h.counter(t, "otlp_exported_spans_total", "exporter", "otlp/test"); got != 60 {
				t.Errorf("exported spans counter %v, want 60", got)
			}
		})
	}
}

// assertSame compares what the sink holds with what was sent, byte for byte in protobuf form.
func assertSame(t *testing.T, sink *testutil.Sink, td ptrace.Traces, md pmetric.Metrics, ld plog.Logs) {
	t.Helper()
	gt, gm, gl := sink.Traces(), sink.Metrics(), sink.Logs()
	if len(gt) != 1 || len(gm) != 1 || len(gl) != 1 {
		t.Fatalf("batches: %d traces, %d metrics, %d logs", len(gt), len(gm), len(gl))
	}
	a, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	b, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(gt[0])
	if !bytes.Equal(a, b) {
		t.Error("traces differ from what was sent")
	}
	a, _ = (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	b, _ = (&pmetric.ProtoMarshaler{}).MarshalMetrics(gm[0])
	if !bytes.Equal(a, b) {
		t.Error("metrics differ from what was sent")
	}
	a, _ = (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	b, _ = (&plog.ProtoMarshaler{}).MarshalLogs(gl[0])
	if !bytes.Equal(a, b) {
		t.Error("logs differ from what was sent")
	}
	for i, id := range sink.SpanIDs() {
		if id != testutil.SpanID(i) {
			t.Fatalf("span %d: id %s, want %s", i, id, testutil.SpanID(i))
		}
	}
}

// TestTLSFailures: each TLS mistake fails retryably (the data is kept) and is explained by its
// cause and fix, read from the real wire error.
func TestTLSFailures(t *testing.T) {
	ca := testutil.NewCA(t)
	other := testutil.NewCA(t)
	sink := testutil.NewSink(t, testutil.WithTLS(ca.ServerTLS(t, true)))
	plain := testutil.NewSink(t)
	tests := []struct {
		name     string
		endpoint string
		tls      clientconf.TLS
		cause    string
	}{
		{"unknown CA", sink.GRPCAddr, clientconf.TLS{CAFile: other.CertFile}, "certificate is not trusted"},
		{"no client certificate", sink.GRPCAddr, clientconf.TLS{CAFile: ca.CertFile}, "client certificate|closed the connection"},
		{"plain text to a TLS server", sink.GRPCAddr, clientconf.TLS{Insecure: true}, "plaintext to an endpoint that expects TLS"},
		{"TLS to a plain text server", plain.GRPCAddr, clientconf.TLS{}, "TLS to an endpoint that speaks plaintext"},
		{"nothing listening", testutil.FreeAddr(t), clientconf.TLS{Insecure: true}, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(tt.endpoint)
			cfg.TLS = tt.tls
			cfg.Queue.Enabled, cfg.Retry.Enabled = false, false
			cfg.Timeout = 5 * time.Second
			h := start(t, cfg)
			err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 1, 0)))
			if err == nil || resilience.IsPermanent(err) {
				t.Fatalf("Consume: %v, want a retryable failure", err)
			}
			// With TLS 1.3 the server's refusal of a missing client certificate may arrive as an
			// alert or as a reset, depending on timing: either is explained.
			cause, fix := sender.Explain(err)
			matched := false
			for _, want := range strings.Split(tt.cause, "|") {
				matched = matched || strings.Contains(cause, want)
			}
			if !matched || fix == "" {
				t.Errorf("explained as %q (fix %q), want %q; error: %v", cause, fix, tt.cause, err)
			}
		})
	}
	if n := sink.Items(pipeline.SignalTraces) + plain.Items(pipeline.SignalTraces); n != 0 {
		t.Errorf("%d spans got through", n)
	}
}

func TestErrorClasses(t *testing.T) {
	flaky := testutil.NewFlakyServer(t)
	cfg := baseConfig(flaky.GRPCAddr)
	cfg.Queue.Enabled, cfg.Retry.Enabled = false, false
	h := start(t, cfg)
	tests := []struct {
		name       string
		behavior   testutil.Behavior
		permanent  bool
		retryAfter time.Duration
	}{
		{"accept", testutil.Accept(), false, 0},
		{"unavailable", testutil.Unavailable(0), false, 0},
		{"unavailable with RetryInfo", testutil.Unavailable(300 * time.Millisecond), false, 300 * time.Millisecond},
		{"resource exhausted with RetryInfo", testutil.Throttle(1500 * time.Millisecond), false, 1500 * time.Millisecond},
		{"invalid argument", testutil.Reject(), true, 0},
		{"dropped connection", testutil.Drop(), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flaky.Script(tt.behavior)
			err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 2, 0)))
			if tt.behavior.Action == testutil.ActAccept {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if resilience.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent %v, want %v: %v", resilience.IsPermanent(err), tt.permanent, err)
			}
			d, ok := resilience.RetryAfter(err)
			if (tt.retryAfter > 0) != ok || d != tt.retryAfter {
				t.Errorf("retry after %v (%v), want %v: %v", d, ok, tt.retryAfter, err)
			}
		})
	}
}

func TestRetriesThroughFailures(t *testing.T) {
	flaky := testutil.NewFlakyServer(t)
	flaky.Script(testutil.Unavailable(0), testutil.Throttle(20*time.Millisecond), testutil.Drop(), testutil.Unavailable(10*time.Millisecond), testutil.Accept())
	h := start(t, baseConfig(flaky.GRPCAddr))
	if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(2, 5, 0))); err != nil {
		t.Fatal(err)
	}
	ctx := waitCtx(t)
	if err := flaky.WaitRequests(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := h.exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := flaky.AcceptedItems(); got != 10 {
		t.Errorf("accepted %d spans, want 10", got)
	}
	if got := len(flaky.Requests()); got != 5 {
		t.Errorf("%d requests, want 5", got)
	}
	if got := h.counter(t, "otlp_exported_spans_total", "exporter", "otlp/test"); got != 10 {
		t.Errorf("exported counter %v", got)
	}
}

func TestRejectedNotRetried(t *testing.T) {
	flaky := testutil.NewFlakyServer(t)
	flaky.Script(testutil.Reject())
	h := start(t, baseConfig(flaky.GRPCAddr))
	if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 4, 0))); err != nil {
		t.Fatal(err)
	}
	ctx := waitCtx(t)
	if err := h.exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(flaky.Requests()); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
	if got := h.counter(t, "otlp_dropped_spans_total", "reason", selftel.ReasonExportFailed); got != 4 {
		t.Errorf("dropped %v, want 4", got)
	}
	if !strings.Contains(h.logs.String(), "export failed") {
		t.Errorf("no log line for the dropped batch:\n%s", h.logs.String())
	}
}

func TestPartialSuccessCounted(t *testing.T) {
	sink := testutil.NewSink(t)
	sink.SetPartialSuccess(3, "3 spans without a name")
	h := start(t, baseConfig(sink.GRPCAddr))
	if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 10, 0))); err != nil {
		t.Fatal(err)
	}
	if err := h.exp.Shutdown(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := h.counter(t, "otlp_exported_spans_total", "exporter", "otlp/test"); got != 7 {
		t.Errorf("exported %v, want 7", got)
	}
	if got := h.counter(t, "otlp_dropped_spans_total", "reason", selftel.ReasonExportFailed); got != 3 {
		t.Errorf("dropped %v, want 3", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "partial success") || !strings.Contains(logs, "3 spans without a name") {
		t.Errorf("no clear log line for the partial success:\n%s", logs)
	}
}

func TestShutdownDrainsSlowUpstream(t *testing.T) {
	flaky := testutil.NewFlakyServer(t)
	flaky.SetDefault(testutil.Delay(20 * time.Millisecond))
	cfg := baseConfig(flaky.GRPCAddr)
	cfg.Queue.NumConsumers = 2
	h := start(t, cfg)
	for i := range 10 {
		if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 3, i*3))); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.exp.Shutdown(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := flaky.AcceptedItems(); got != 30 {
		t.Errorf("accepted %d spans, want 30", got)
	}
	if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 1, 0))); !errors.Is(err, sender.ErrStopped) {
		t.Errorf("Consume after Shutdown: %v", err)
	}
}

func TestHealthyFollowsUpstream(t *testing.T) {
	flaky := testutil.NewFlakyServer(t)
	flaky.SetDefault(testutil.Unavailable(0))
	cfg := baseConfig(flaky.GRPCAddr)
	cfg.Queue.Enabled, cfg.Retry.Enabled = false, false
	h := start(t, cfg)
	_ = h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 1, 0)))
	st := h.exp.Status()
	if st.FailingSince.IsZero() || !strings.Contains(st.LastError, "Unavailable") {
		t.Errorf("status after a failure: %+v", st)
	}
	flaky.SetDefault(testutil.Accept())
	if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 1, 0))); err != nil {
		t.Fatal(err)
	}
	if st := h.exp.Status(); !st.Healthy || !st.FailingSince.IsZero() {
		t.Errorf("status after a success: %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*otlpgrpc.Config)
		want string
	}{
		{"ok", func(*otlpgrpc.Config) {}, ""},
		{"no endpoint", func(c *otlpgrpc.Config) { c.Endpoint = "" }, "endpoint"},
		{"scheme", func(c *otlpgrpc.Config) { c.Endpoint = "grpc://collector:4317" }, "endpoint"},
		{"https and insecure", func(c *otlpgrpc.Config) { c.Endpoint, c.TLS.Insecure = "https://collector:4317", true }, "endpoint"},
		{"http and tls files", func(c *otlpgrpc.Config) { c.Endpoint, c.TLS.CAFile = "http://collector:4317", "ca.pem" }, "endpoint"},
		{"no port", func(c *otlpgrpc.Config) { c.Endpoint = "collector" }, "endpoint"},
		{"compression", func(c *otlpgrpc.Config) { c.Compression = "br" }, "compression"},
		{"timeout", func(c *otlpgrpc.Config) { c.Timeout = 0 }, "timeout"},
		{"keepalive", func(c *otlpgrpc.Config) { c.Keepalive.Time = time.Second }, "keepalive.time"},
		{"tls", func(c *otlpgrpc.Config) { c.TLS.Insecure = false; c.TLS.CertFile = "c.pem" }, "tls.key_file"},
		{"header", func(c *otlpgrpc.Config) { c.Headers = clientconf.Headers{"a b": "x"} }, "headers"},
		{"queue", func(c *otlpgrpc.Config) { c.Queue.NumConsumers = 0 }, "sending_queue.num_consumers"},
		{"retry", func(c *otlpgrpc.Config) { c.Retry.Multiplier = 0 }, "retry.multiplier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig("collector:4317")
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want+":") {
				t.Errorf("Validate: %v, want a %q error", err, tt.want)
			}
		})
	}
	if _, err := otlpgrpc.New(otlpgrpc.Config{}, otlpgrpc.Settings{}); err == nil {
		t.Error("New accepted an empty config")
	}
	cfg := baseConfig("collector:4317")
	cfg.TLS = clientconf.TLS{CAFile: "missing.pem"}
	if _, err := otlpgrpc.New(cfg, otlpgrpc.Settings{}); err == nil || !strings.HasPrefix(err.Error(), "tls.ca_file:") {
		t.Errorf("New with a missing CA file: %v", err)
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	exp, err := otlpgrpc.New(baseConfig("127.0.0.1:1"), otlpgrpc.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := exp.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}
