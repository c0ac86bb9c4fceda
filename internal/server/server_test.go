package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// forwardConfig is a server that receives on loopback and forwards every signal to upstream.
func forwardConfig(upstream string, extra string) string {
	return fmt.Sprintf(`
[otlp]
log_level = "warn"
[admin]
endpoint = "127.0.0.1:0"
[receivers.otlp.grpc]
endpoint = "127.0.0.1:0"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[processors.batch]
send_batch_size = 1000
timeout = "20ms"
[exporters.otlp]
endpoint = %q
compression = "none"
tls = { insecure = true }
[pipelines.traces]
receivers = ["otlp"]
processors = ["batch"]
exporters = ["otlp"]
[pipelines.metrics]
receivers = ["otlp"]
processors = ["batch"]
exporters = ["otlp"]
[pipelines.logs]
receivers = ["otlp"]
processors = ["batch"]
exporters = ["otlp"]
%s`, upstream, extra)
}

// newStartedServer starts a server from TOML text; the caller shuts it down.
func newStartedServer(t *testing.T, toml string) *Server {
	t.Helper()
	cfg, err := config.Parse([]byte(toml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Settings{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// startServer starts a server that must shut down cleanly when the test ends.
func startServer(t *testing.T, toml string) *Server {
	t.Helper()
	s := newStartedServer(t, toml)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestOfficialSDKThroughServer sends traces (gRPC and HTTP), metrics and logs with the official
// OpenTelemetry Go SDK exporters through the server to a real OTLP receiver and checks that every
// item arrives intact.
func TestOfficialSDKThroughServer(t *testing.T) {
	sink := testutil.NewSink(t)
	s := startServer(t, forwardConfig(sink.GRPCAddr, ""))
	grpcAddr, httpAddr := s.ReceiverAddrs("otlp")
	ctx := waitCtx(t)
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("deployment.environment", "test"))

	// Traces: 300 spans over gRPC and 200 over HTTP, each with attributes and a parent.
	want := map[trace.SpanID]string{}
	send := func(exp sdktrace.SpanExporter, n int, tag string) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(64)))
		tr := tp.Tracer("shop/cart", trace.WithInstrumentationVersion("1.2.3"))
		for i := 0; i < n; i++ {
			_, sp := tr.Start(context.Background(), fmt.Sprintf("%s-%d", tag, i), trace.WithAttributes(attribute.Int("i", i), attribute.String("via", tag)))
			want[sp.SpanContext().SpanID()] = fmt.Sprintf("%s-%d", tag, i)
			sp.End()
		}
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatalf("%s exporter: %v", tag, err)
		}
	}
	ge, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr.String()), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	send(ge, 300, "grpc")
	he, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(httpAddr.String()), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	send(he, 200, "http")

	// Metrics over gRPC, logs over HTTP.
	me, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(grpcAddr.String()), otlpmetricgrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewManualReader()), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(time.Hour))))
	counter, _ := mp.Meter("shop/cart").Int64Counter("orders", metric.WithUnit("{order}"))
	for i := 0; i < 5; i++ {
		counter.Add(ctx, 1, metric.WithAttributes(attribute.Int("shard", i)))
	}
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	le, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(httpAddr.String()), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(le)))
	logger := lp.Logger("shop/cart")
	for i := 0; i < 50; i++ {
		var r otellog.Record
		r.SetBody(attribute.StringValue(fmt.Sprintf("order %d placed", i)))
		r.SetSeverity(otellog.SeverityInfo)
		logger.Emit(ctx, r)
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	if err := sink.WaitSpans(ctx, 500); err != nil {
		t.Fatalf("spans: %v (got %d)", err, sink.Items(pipeline.SignalTraces))
	}
	if err := sink.WaitItems(ctx, pipeline.SignalMetrics, 5); err != nil {
		t.Fatalf("metric points: %v", err)
	}
	if err := sink.WaitItems(ctx, pipeline.SignalLogs, 50); err != nil {
		t.Fatalf("log records: %v", err)
	}

	got := 0
	for _, td := range sink.Traces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			if v, _ := rs.Resource().Attributes().Get("service.name"); v.Str() != "checkout" {
				t.Fatalf("resource lost: %v", rs.Resource().Attributes().AsRaw())
			}
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j)
				if ss.Scope().Name() != "shop/cart" || ss.Scope().Version() != "1.2.3" {
					t.Fatalf("scope lost: %s %s", ss.Scope().Name(), ss.Scope().Version())
				}
				for k := 0; k < ss.Spans().Len(); k++ {
					sp := ss.Spans().At(k)
					name, ok := want[trace.SpanID(sp.SpanID())]
					if !ok || sp.Name() != name {
						t.Fatalf("unexpected span %s %q", sp.SpanID(), sp.Name())
					}
					if v, _ := sp.Attributes().Get("via"); !strings.HasPrefix(name, v.Str()) {
						t.Fatalf("attributes lost on %s: %v", name, sp.Attributes().AsRaw())
					}
					if sp.TraceID() == (pcommon.TraceID{}) {
						t.Fatal("trace id lost")
					}
					delete(want, trace.SpanID(sp.SpanID()))
					got++
				}
			}
		}
	}
	if len(want) != 0 || got != 500 {
		t.Fatalf("%d spans never arrived, %d arrived", len(want), got)
	}
	body := logBodies(sink)
	if len(body) != 50 || body[0] != "order 0 placed" {
		t.Fatalf("log bodies: %d, first %q", len(body), body[0])
	}
}

func logBodies(s *testutil.Sink) []string {
	var out []string
	for _, ld := range s.Logs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sl := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sl.Len(); j++ {
				for k := 0; k < sl.At(j).LogRecords().Len(); k++ {
					out = append(out, sl.At(j).LogRecords().At(k).Body().Str())
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		var a, b int
		fmt.Sscanf(out[i], "order %d", &a)
		fmt.Sscanf(out[j], "order %d", &b)
		return a < b
	})
	return out
}

// TestDefaultConfigStarts checks that the built-in defaults validate and that /ready answers.
func TestReadyAndDefaults(t *testing.T) {
	sink := testutil.NewSink(t)
	s := startServer(t, forwardConfig(sink.GRPCAddr, ""))
	resp, err := http.Get("http://" + s.AdminAddr().String() + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/ready = %d", resp.StatusCode)
	}
	if c := config.Default(); len(c.Pipelines) != 3 || c.Exporters["debug"].Type != "debug" {
		t.Fatalf("defaults: %+v", c)
	}
}

// TestCheckConfigFile exercises loading from a file with an env reference.
func TestLoadFileWithEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otlp.toml")
	if err := os.WriteFile(path, []byte("[otlp.transport]\nendpoints = [\"${UP}\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(k string) (string, bool) {
		if k == "UP" {
			return "127.0.0.1:9", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Exporters[config.UpstreamExporter]; e.Type != "otlp" || e.Config.(*otlpgrpc.Config).Endpoint != "127.0.0.1:9" {
		t.Fatalf("upstream exporter: %+v", e)
	}
}

// TestHostMetricsPipeline: the hostmetrics receiver's data reaches an upstream as OTLP metrics.
func TestHostMetricsPipeline(t *testing.T) {
	sink := testutil.NewSink(t)
	startServer(t, fmt.Sprintf(`
[admin]
endpoint = "127.0.0.1:0"
[receivers.hostmetrics]
collection_interval = "1h"
scrapers = ["cpu", "memory"]
[exporters.otlp]
endpoint = %q
tls = { insecure = true }
[pipelines.metrics]
receivers = ["hostmetrics"]
exporters = ["otlp"]
`, sink.GRPCAddr))
	ctx := waitCtx(t)
	if err := sink.WaitItems(ctx, pipeline.SignalMetrics, 1); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, md := range sink.Metrics() {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			// The current semantic convention, as the SDK writes it.
			attrs := md.ResourceMetrics().At(i).Resource().Attributes()
			if _, ok := attrs.Get("deployment.environment.name"); !ok {
				t.Errorf("host metrics resource without deployment.environment.name: %v", attrs.AsRaw())
			}
			if _, ok := attrs.Get("deployment.environment"); ok {
				t.Errorf("host metrics resource still has the deprecated deployment.environment: %v", attrs.AsRaw())
			}
			sms := md.ResourceMetrics().At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				for k := 0; k < sms.At(j).Metrics().Len(); k++ {
					names[sms.At(j).Metrics().At(k).Name()] = true
				}
			}
		}
	}
	if !names["system.memory.usage"] {
		t.Fatalf("host metrics missing system.memory.usage: %v", names)
	}
	if _, err := config.Parse([]byte("[receivers.hostmetrics]\n[exporters.debug]\n[pipelines.traces]\nreceivers=[\"hostmetrics\"]\nexporters=[\"debug\"]\n"), func(string) (string, bool) { return "", false }); err == nil || !strings.Contains(err.Error(), `"hostmetrics" produces no traces`) {
		t.Fatalf("hostmetrics in a traces pipeline: %v", err)
	}
}
