package receiver

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// sdkCase is one way of sending: transport, compression, security and auth.
type sdkCase struct {
	name      string
	transport string // "grpc" or "http"
	gzip      bool
	security  string // "", "tls" or "mtls"
	token     string
}

// exporters builds the official OTel SDK exporters of a case, pointed at r.
type exporters struct {
	trace  sdktrace.SpanExporter
	metric sdkmetric.Exporter
	log    sdklog.Exporter
}

func newExporters(t *testing.T, c sdkCase, r *Receiver, pki certs) exporters {
	t.Helper()
	ctx := context.Background()
	var tlsCfg *tls.Config
	if c.security != "" {
		tlsCfg = &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}
		if c.security == "mtls" {
			tlsCfg.Certificates = []tls.Certificate{pki.client}
		}
	}
	headers := map[string]string{}
	if c.token != "" {
		headers["Authorization"] = "Bearer " + c.token
	}
	var ex exporters
	var err [3]error
	if c.transport == "grpc" {
		ep := r.GRPCAddr().String()
		compressor := ""
		if c.gzip {
			compressor = "gzip"
		}
		to := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(ep), otlptracegrpc.WithHeaders(headers),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false})}
		mo := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(ep), otlpmetricgrpc.WithHeaders(headers),
			otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false})}
		lo := []otlploggrpc.Option{otlploggrpc.WithEndpoint(ep), otlploggrpc.WithHeaders(headers),
			otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false})}
		if compressor != "" {
			to = append(to, otlptracegrpc.WithCompressor(compressor))
			mo = append(mo, otlpmetricgrpc.WithCompressor(compressor))
			lo = append(lo, otlploggrpc.WithCompressor(compressor))
		}
		if tlsCfg != nil {
			creds := credentials.NewTLS(tlsCfg)
			to = append(to, otlptracegrpc.WithTLSCredentials(creds))
			mo = append(mo, otlpmetricgrpc.WithTLSCredentials(creds))
			lo = append(lo, otlploggrpc.WithTLSCredentials(creds))
		} else {
			to = append(to, otlptracegrpc.WithInsecure())
			mo = append(mo, otlpmetricgrpc.WithInsecure())
			lo = append(lo, otlploggrpc.WithInsecure())
		}
		ex.trace, err[0] = otlptracegrpc.New(ctx, to...)
		ex.metric, err[1] = otlpmetricgrpc.New(ctx, mo...)
		ex.log, err[2] = otlploggrpc.New(ctx, lo...)
	} else {
		ep := r.HTTPAddr().String()
		to := []otlptracehttp.Option{otlptracehttp.WithEndpoint(ep), otlptracehttp.WithHeaders(headers),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}
		mo := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(ep), otlpmetrichttp.WithHeaders(headers),
			otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false})}
		lo := []otlploghttp.Option{otlploghttp.WithEndpoint(ep), otlploghttp.WithHeaders(headers),
			otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false})}
		if c.gzip {
			to = append(to, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
			mo = append(mo, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
			lo = append(lo, otlploghttp.WithCompression(otlploghttp.GzipCompression))
		}
		if tlsCfg != nil {
			to = append(to, otlptracehttp.WithTLSClientConfig(tlsCfg))
			mo = append(mo, otlpmetrichttp.WithTLSClientConfig(tlsCfg))
			lo = append(lo, otlploghttp.WithTLSClientConfig(tlsCfg))
		} else {
			to = append(to, otlptracehttp.WithInsecure())
			mo = append(mo, otlpmetrichttp.WithInsecure())
			lo = append(lo, otlploghttp.WithInsecure())
		}
		ex.trace, err[0] = otlptracehttp.New(ctx, to...)
		ex.metric, err[1] = otlpmetrichttp.New(ctx, mo...)
		ex.log, err[2] = otlploghttp.New(ctx, lo...)
	}
	for _, e := range err {
		if e != nil {
			t.Fatal(e)
		}
	}
	return ex
}

// TestOfficialSDKExporters sends traces, metrics and logs with the OpenTelemetry Go SDK's OTLP
// exporters and checks that every span, point and record reaches the pipeline intact.
func TestOfficialSDKExporters(t *testing.T) {
	pki := newCerts(t)
	cases := []sdkCase{
		{name: "grpc", transport: "grpc"},
		{name: "grpc gzip bearer", transport: "grpc", gzip: true, token: "s3cret"},
		{name: "grpc tls", transport: "grpc", security: "tls"},
		{name: "grpc mtls gzip", transport: "grpc", security: "mtls", gzip: true},
		{name: "http", transport: "http"},
		{name: "http gzip bearer", transport: "http", gzip: true, token: "s3cret"},
		{name: "http tls", transport: "http", security: "tls", token: "s3cret"},
		{name: "http mtls gzip", transport: "http", security: "mtls", gzip: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Auth.BearerToken = c.token
			if c.security != "" {
				cfg.TLS = TLSConfig{CertFile: pki.serverCert, KeyFile: pki.serverKey}
				if c.security == "mtls" {
					cfg.TLS.ClientCAFile = pki.caFile
				}
			}
			s := newSink()
			r := startReceiver(t, cfg, s)
			ex := newExporters(t, c, r, pki)
			sendAndCheck(t, ex, s)
		})
	}
}

func sendAndCheck(t *testing.T, ex exporters, s *sink) {
	ctx := context.Background()
	res := resource.NewSchemaless(attribute.String("service.name", "receiver-test"), attribute.Int("pid", 42))
	const n = 25

	// Traces.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(ex.trace), sdktrace.WithResource(res))
	tracer := tp.Tracer("test.scope", trace.WithInstrumentationVersion("1.0.0"))
	want := map[[8]byte]trace.SpanContext{}
	var logCtx context.Context
	for i := range n {
		spanCtx, sp := tracer.Start(ctx, fmt.Sprintf("op-%d", i),
			trace.WithAttributes(attribute.Int("i", i), attribute.String("kind", "test"), attribute.StringSlice("tags", []string{"a", "b"})))
		want[sp.SpanContext().SpanID()] = sp.SpanContext()
		sp.End()
		logCtx = spanCtx
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("trace export: %v", err)
	}
	s.waitItems(t, pipeline.SignalTraces, n)
	td := s.traces(t)
	if got := td.SpanCount(); got != n {
		t.Fatalf("%d spans arrived, want %d", got, n)
	}
	for _, rs := range td.ResourceSpans().All() {
		checkResource(t, rs.Resource())
		for _, ss := range rs.ScopeSpans().All() {
			if ss.Scope().Name() != "test.scope" || ss.Scope().Version() != "1.0.0" {
				t.Errorf("scope %q %q", ss.Scope().Name(), ss.Scope().Version())
			}
			for _, sp := range ss.Spans().All() {
				sc, ok := want[sp.SpanID()]
				if !ok || pcommon.TraceID(sc.TraceID()) != sp.TraceID() {
					t.Fatalf("unexpected span %v/%v", sp.TraceID(), sp.SpanID())
				}
				delete(want, sp.SpanID())
				i, _ := sp.Attributes().Get("i")
				if sp.Name() != fmt.Sprintf("op-%d", i.Int()) || sp.Attributes().Len() != 3 {
					t.Errorf("span %q has attributes %v", sp.Name(), sp.Attributes().AsRaw())
				}
				if tags, _ := sp.Attributes().Get("tags"); tags.Slice().Len() != 2 {
					t.Errorf("span %q: tags %v", sp.Name(), tags.AsRaw())
				}
			}
		}
	}
	if len(want) != 0 {
		t.Fatalf("%d spans missing", len(want))
	}

	// Metrics.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(ex.metric)), sdkmetric.WithResource(res))
	meter := mp.Meter("test.scope")
	counter, err := meter.Int64Counter("requests")
	if err != nil {
		t.Fatal(err)
	}
	hist, err := meter.Float64Histogram("latency")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		route := fmt.Sprintf("/r%d", i%5)
		counter.Add(ctx, int64(i), metric.WithAttributes(attribute.String("route", route)))
		hist.Record(ctx, float64(i)/10, metric.WithAttributes(attribute.String("route", route)))
	}
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatalf("metric export: %v", err)
	}
	s.waitItems(t, pipeline.SignalMetrics, 10)
	md := s.metrics(t)
	sums := map[string]int64{}
	histCount := uint64(0)
	for _, rm := range md.ResourceMetrics().All() {
		checkResource(t, rm.Resource())
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for _, dp := range m.Sum().DataPoints().All() {
						route, _ := dp.Attributes().Get("route")
						sums[route.Str()] = dp.IntValue()
					}
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						histCount += dp.Count()
					}
				}
			}
		}
	}
	for k := range 5 {
		want := int64(0)
		for i := k; i < n; i += 5 {
			want += int64(i)
		}
		if got := sums[fmt.Sprintf("/r%d", k)]; got != want {
			t.Errorf("requests{route=/r%d} = %d, want %d", k, got, want)
		}
	}
	if histCount != n {
		t.Errorf("latency count %d, want %d", histCount, n)
	}

	// Logs, correlated with the last span.
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(ex.log)), sdklog.WithResource(res))
	logger := lp.Logger("test.scope")
	for i := range n {
		var rec otellog.Record
		rec.SetBody(attribute.StringValue(fmt.Sprintf("line %d", i)))
		rec.SetSeverity(otellog.SeverityWarn)
		rec.AddAttributes(attribute.Int("i", i))
		logger.Emit(logCtx, rec)
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("log export: %v", err)
	}
	s.waitItems(t, pipeline.SignalLogs, n)
	ld := s.logs(t)
	if ld.LogRecordCount() != n {
		t.Fatalf("%d log records, want %d", ld.LogRecordCount(), n)
	}
	wantTrace := pcommon.TraceID(trace.SpanContextFromContext(logCtx).TraceID())
	seen := map[string]bool{}
	for _, rl := range ld.ResourceLogs().All() {
		checkResource(t, rl.Resource())
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				i, _ := lr.Attributes().Get("i")
				if lr.Body().Str() != fmt.Sprintf("line %d", i.Int()) || lr.TraceID() != wantTrace || lr.SeverityText() == "" && lr.SeverityNumber() == 0 {
					t.Errorf("log record %q: trace %v, severity %v", lr.Body().Str(), lr.TraceID(), lr.SeverityNumber())
				}
				seen[lr.Body().Str()] = true
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct log lines, want %d", len(seen), n)
	}
}

func checkResource(t *testing.T, r pcommon.Resource) {
	t.Helper()
	svc, _ := r.Attributes().Get("service.name")
	pid, _ := r.Attributes().Get("pid")
	if svc.Str() != "receiver-test" || pid.Int() != 42 {
		t.Errorf("resource %v", r.Attributes().AsRaw())
	}
}
