package otlphttp_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/exporter/clientconf"
	"github.com/otlp-dev/otlp/internal/exporter/otlphttp"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "Bearer s3cret-t0ken"

type harness struct {
	exp     *otlphttp.Exporter
	metrics *selftel.Metrics
	logs    *testutil.LogBuffer
}

func start(t *testing.T, cfg otlphttp.Config) harness {
	t.Helper()
	h := harness{metrics: selftel.New(), logs: &testutil.LogBuffer{}}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	exp, err := otlphttp.New(cfg, otlphttp.Settings{Name: "otlphttp/test", Logger: log, Metrics: h.metrics})
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

func baseConfig(endpoint string) otlphttp.Config {
	cfg := otlphttp.NewDefaultConfig()
	cfg.Endpoint = endpoint
	cfg.Headers = clientconf.Headers{"Authorization": secret, "X-Tenant": "acme"}
	cfg.Retry.InitialInterval, cfg.Retry.MaxInterval = 5*time.Millisecond, 50*time.Millisecond
	return cfg
}

func TestExportIntact(t *testing.T) {
	tests := []struct {
		encoding, compression, tls string
	}{
		{otlphttp.EncodingProto, otlphttp.CompressionGzip, ""},
		{otlphttp.EncodingJSON, otlphttp.CompressionNone, ""},
		{otlphttp.EncodingProto, otlphttp.CompressionNone, "tls"},
		{otlphttp.EncodingJSON, otlphttp.CompressionGzip, "mtls"},
		{otlphttp.EncodingProto, otlphttp.CompressionZstd, ""},
	}
	for _, tt := range tests {
		t.Run(tt.encoding+"/"+tt.compression+"/"+tt.tls, func(t *testing.T) {
			var sink *testutil.Sink
			cfg := baseConfig("")
			cfg.Encoding, cfg.Compression = tt.encoding, tt.compression
			if tt.tls == "" {
				sink = testutil.NewSink(t)
			} else {
				ca := testutil.NewCA(t)
				sink = testutil.NewSink(t, testutil.WithTLS(ca.ServerTLS(t, tt.tls == "mtls")))
				cfg.TLS.CAFile = ca.CertFile
				if tt.tls == "mtls" {
					c := ca.Issue(t, "client")
					cfg.TLS.CertFile, cfg.TLS.KeyFile = c.CertFile, c.KeyFile
				}
			}
			cfg.Endpoint = sink.HTTPURL
			h := start(t, cfg)
			td, md, ld := testutil.Traces(3, 20, 0), testutil.Metrics(2, 15, 0), testutil.Logs(2, 10, 0)
			for _, b := range []pipeline.Batch{testutil.TracesBatch(td), testutil.MetricsBatch(md), testutil.LogsBatch(ld)} {
				if err := h.exp.Consume(t.Context(), b); err != nil {
					t.Fatal(err)
				}
			}
			ctx := waitCtx(t)
			if err := h.exp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			assertSame(t, sink, td, md, ld)
			reqs := sink.Requests()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 3", len(reqs))
			}
			for _, r := range reqs {
				if got := r.Headers["authorization"]; len(got) != 1 || got[0] != secret {
					t.Errorf("%s: authorization %q", r.Signal, got)
				}
				if got := r.Headers["x-tenant"]; len(got) != 1 || got[0] != "acme" {
					t.Errorf("%s: x-tenant %q", r.Signal, got)
				}
				if r.Encoding != tt.encoding || r.Compressed != (tt.compression != otlphttp.CompressionNone) {
					t.Errorf("%s: encoding %s compressed %v", r.Signal, r.Encoding, r.Compressed)
				}
			}
			if got := h.counter(t, "otlp_exported_log_records_total", "exporter", "otlphttp/test"); got != 20 {
				t.Errorf("exported log records %v, want 20", got)
			}
		})
	}
}

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
			t.Fatalf("span %d: id %s", i, id)
		}
	}
}

func TestSignalURLOverride(t *testing.T) {
	sink := testutil.NewSink(t)
	cfg := baseConfig(sink.HTTPURL + "/nowhere")
	cfg.TracesEndpoint = sink.HTTPURL + "/v1/traces"
	cfg.Queue.Enabled, cfg.Retry.Enabled = false, false
	h := start(t, cfg)
	if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 3, 0))); err != nil {
		t.Fatalf("traces to their own URL: %v", err)
	}
	err := h.exp.Consume(t.Context(), testutil.LogsBatch(testutil.Logs(1, 3, 0)))
	// A wrong path is the configuration's fault, not the data's: retryable, so it is held.
	if code, _ := resilience.HTTPStatus(err); code != 404 || resilience.IsPermanent(err) || resilience.KindOf(err) != resilience.KindConfiguration {
		t.Errorf("logs to endpoint/nowhere/v1/logs: %v, want a retryable configuration 404", err)
	}
}

func TestErrorClasses(t *testing.T) {
	flaky := testutil.NewFlakyServer(t)
	cfg := baseConfig(flaky.HTTPURL)
	cfg.Queue.Enabled, cfg.Retry.Enabled = false, false
	h := start(t, cfg)
	tests := []struct {
		name       string
		behavior   testutil.Behavior
		permanent  bool
		retryAfter time.Duration
	}{
		{"200", testutil.Accept(), false, 0},
		{"503", testutil.Unavailable(0), false, 0},
		{"503 Retry-After", testutil.Unavailable(time.Second), false, time.Second},
		{"429 Retry-After", testutil.Throttle(2 * time.Second), false, 2 * time.Second},
		{"400", testutil.Reject(), true, 0},
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
	flaky.Script(testutil.Unavailable(0), testutil.Drop(), testutil.Unavailable(0), testutil.Accept())
	h := start(t, baseConfig(flaky.HTTPURL))
	if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(2, 5, 0))); err != nil {
		t.Fatal(err)
	}
	ctx := waitCtx(t)
	if err := flaky.WaitRequests(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := h.exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := flaky.AcceptedItems(); got != 10 || len(flaky.Requests()) != 4 {
		t.Errorf("accepted %d spans in %d requests, want 10 in 4", got, len(flaky.Requests()))
	}
	if got := h.counter(t, "otlp_exported_spans_total", "exporter", "otlphttp/test"); got != 10 {
		t.Errorf("exported counter %v", got)
	}
}

func TestBadRequestNotRetried(t *testing.T) {
	flaky := testutil.NewFlakyServer(t)
	flaky.Script(testutil.Reject())
	h := start(t, baseConfig(flaky.HTTPURL))
	if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 4, 0))); err != nil {
		t.Fatal(err)
	}
	if err := h.exp.Shutdown(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := len(flaky.Requests()); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
	if got := h.counter(t, "otlp_dropped_spans_total", "reason", selftel.ReasonExportFailed); got != 4 {
		t.Errorf("dropped %v, want 4", got)
	}
}

func TestPartialSuccessCounted(t *testing.T) {
	for _, enc := range []string{otlphttp.EncodingProto, otlphttp.EncodingJSON} {
		t.Run(enc, func(t *testing.T) {
			sink := testutil.NewSink(t)
			sink.SetPartialSuccess(2, "2 records too old")
			cfg := baseConfig(sink.HTTPURL)
			cfg.Encoding = enc
			h := start(t, cfg)
			if err := h.exp.Consume(t.Context(), testutil.LogsBatch(testutil.Logs(1, 9, 0))); err != nil {
				t.Fatal(err)
			}
			if err := h.exp.Shutdown(waitCtx(t)); err != nil {
				t.Fatal(err)
			}
			if got := h.counter(t, "otlp_exported_log_records_total", "exporter", "otlphttp/test"); got != 7 {
				t.Errorf("exported %v, want 7", got)
			}
			if got := h.counter(t, "otlp_dropped_log_records_total", "reason", selftel.ReasonExportFailed); got != 2 {
				t.Errorf("dropped %v, want 2", got)
			}
			if !strings.Contains(h.logs.String(), "2 records too old") {
				t.Errorf("no log line for the partial success:\n%s", h.logs.String())
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*otlphttp.Config)
		want string
	}{
		{"ok", func(*otlphttp.Config) {}, ""},
		{"no endpoint", func(c *otlphttp.Config) { c.Endpoint = "" }, "endpoint"},
		{"per-signal only", func(c *otlphttp.Config) {
			c.Endpoint, c.TracesEndpoint, c.MetricsEndpoint, c.LogsEndpoint = "", "http://a/t", "http://a/m", "http://a/l"
		}, ""},
		{"no scheme", func(c *otlphttp.Config) { c.Endpoint = "collector:4318" }, "endpoint"},
		{"bad signal URL", func(c *otlphttp.Config) { c.MetricsEndpoint = "ftp://x" }, "metrics_endpoint"},
		{"insecure https", func(c *otlphttp.Config) { c.TLS.Insecure = true }, "tls.insecure"},
		{"encoding", func(c *otlphttp.Config) { c.Encoding = "xml" }, "encoding"},
		{"compression", func(c *otlphttp.Config) { c.Compression = "br" }, "compression"},
		{"timeout", func(c *otlphttp.Config) { c.Timeout = 0 }, "timeout"},
		{"tls", func(c *otlphttp.Config) { c.TLS.KeyFile = "k.pem" }, "tls.cert_file"},
		{"queue", func(c *otlphttp.Config) { c.Queue.FullPolicy = "x" }, "sending_queue.full_policy"},
		{"retry", func(c *otlphttp.Config) { c.Retry.InitialInterval = 0 }, "retry.initial_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig("https://collector:4318")
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
}

// TestTLSMismatch: https:// to a plaintext server and http:// to a TLS server are explained by
// their cause, and neither drops the data (both are retryable).
func TestTLSMismatch(t *testing.T) {
	plain := testutil.NewSink(t)
	ca := testutil.NewCA(t)
	secure := testutil.NewSink(t, testutil.WithTLS(ca.ServerTLS(t, false)))
	tests := []struct{ name, endpoint, cause string }{
		{"https to plaintext", strings.Replace(plain.HTTPURL, "http://", "https://", 1), "TLS to an endpoint that speaks plaintext"},
		{"http to TLS", strings.Replace(secure.HTTPURL, "https://", "http://", 1), "plaintext to an endpoint that expects TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(tt.endpoint)
			cfg.Queue.Enabled, cfg.Retry.Enabled = false, false
			h := start(t, cfg)
			err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 1, 0)))
			if err == nil || resilience.IsPermanent(err) {
				t.Fatalf("Consume: %v, want a retryable failure (the data is kept)", err)
			}
			if cause, fix := sender.Explain(err); !strings.Contains(cause, tt.cause) || fix == "" {
				t.Errorf("explained as %q (fix %q), want %q; error: %v", cause, fix, tt.cause, err)
			}
		})
	}
}
