package otlpenc

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
)

// capture keeps copies of every record emitted.
type capture struct {
	mu   sync.Mutex
	recs []sdklog.Record
}

func (c *capture) OnEmit(_ context.Context, r *sdklog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r.Clone())
	return nil
}
func (c *capture) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (c *capture) Shutdown(context.Context) error                         { return nil }
func (c *capture) ForceFlush(context.Context) error                       { return nil }

func testLogs(t *testing.T) []sdklog.Record {
	t.Helper()
	c := &capture{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(c),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc"))))
	defer lp.Shutdown(context.Background())
	ts := time.Unix(1_700_000_000, 42)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	var r log.Record
	r.SetTimestamp(ts)
	r.SetObservedTimestamp(ts.Add(time.Second))
	r.SetSeverity(log.SeverityWarn)
	r.SetSeverityText("WARN")
	r.SetBody(attribute.StringValue("first"))
	r.AddAttributes(attribute.String("k", "v"), attribute.Int("n", 0), attribute.Bool("b", false))
	r.SetEventName("ev")
	lp.Logger("lib", log.WithInstrumentationVersion("1.0")).Emit(ctx, r)

	var r2 log.Record
	r2.SetBody(attribute.MapValue(attribute.String("a", "b"), attribute.Int("c", 1)))
	r2.AddAttributes(attribute.Slice("s", attribute.IntValue(1), attribute.StringValue("x")))
	lp.Logger("other", log.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0")).Emit(context.Background(), r2)

	var r3 log.Record // empty body, zero times
	r3.SetSeverity(log.SeverityDebug)
	lp.Logger("lib", log.WithInstrumentationVersion("1.0")).Emit(ctx, r3)
	return c.recs
}

func officialLogs(t *testing.T, recs []sdklog.Record) []byte {
	t.Helper()
	var mu sync.Mutex
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		body = b
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(srv.URL+"/v1/logs"), otlploghttp.WithRetry(otlploghttp.RetryConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return body
}

// logsBySeverity splits a request into one request per record, keyed by severity (distinct in
// testLogs).
func logsBySeverity(t *testing.T, body []byte) map[int32][]byte {
	t.Helper()
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	out := map[int32][]byte{}
	rls := req.Logs().ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		for j := range rl.ScopeLogs().Len() {
			sl := rl.ScopeLogs().At(j)
			for k := range sl.LogRecords().Len() {
				one := plogotlp.NewExportRequest()
				nrl := one.Logs().ResourceLogs().AppendEmpty()
				rl.Resource().CopyTo(nrl.Resource())
				nrl.SetSchemaUrl(rl.SchemaUrl())
				nsl := nrl.ScopeLogs().AppendEmpty()
				sl.Scope().CopyTo(nsl.Scope())
				nsl.SetSchemaUrl(sl.SchemaUrl())
				lr := sl.LogRecords().At(k)
				lr.CopyTo(nsl.LogRecords().AppendEmpty())
				b, err := one.MarshalProto()
				if err != nil {
					t.Fatal(err)
				}
				out[int32(lr.SeverityNumber())] = b
			}
		}
	}
	return out
}

func TestLogEncoderMatchesOfficialExporter(t *testing.T) {
	recs := testLogs(t)
	if len(recs) != 3 {
		t.Fatalf("captured %d records", len(recs))
	}
	var enc LogEncoder
	ours := enc.AppendLogs(nil, recs)
	got, want := logsBySeverity(t, ours), logsBySeverity(t, officialLogs(t, recs))
	if len(got) != 3 || len(want) != 3 {
		t.Fatalf("records: ours %d, official %d", len(got), len(want))
	}
	for k, w := range want {
		if string(got[k]) != string(w) {
			t.Errorf("record of severity %d differs from the official exporter's encoding", k)
		}
	}
}
