package otlpenc

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// officialTraces sends spans through the official OTLP/HTTP exporter and returns the request
// body it wrote.
func officialTraces(t *testing.T, spans []sdktrace.ReadOnlySpan) []byte {
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
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return body
}

// canonical decodes an ExportTraceServiceRequest with pdata and marshals it again, so two
// encodings of the same data compare equal byte for byte.
func canonical(t testing.TB, body []byte) []byte {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatalf("pdata cannot decode: %v", err)
	}
	out, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testSpans() []sdktrace.ReadOnlySpan {
	res := resource.NewSchemaless(attribute.String("service.name", "svc"), attribute.Int("pid", 7))
	res2 := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attribute.String("service.name", "other"))
	ts, _ := trace.ParseTraceState("vendor=value,other=x")
	tid := trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{9, 9, 9, 9, 9, 9, 9, 9}, Remote: true, TraceFlags: trace.FlagsSampled})
	long := make([]byte, 300) // lengths above one varint byte
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	start := time.Unix(1_700_000_000, 123456789)
	stubs := tracetest.SpanStubs{
		{
			Name: "plain", Resource: res,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled}),
			StartTime:   start, EndTime: start.Add(time.Millisecond),
			InstrumentationScope: instrumentation.Scope{Name: "lib", Version: "1.0"},
			Attributes: []attribute.KeyValue{
				attribute.String("s", "v"), attribute.String("empty", ""), attribute.Bool("t", true), attribute.Bool("f", false),
				attribute.Int64("zero", 0), attribute.Int64("neg", -42), attribute.Int64("max", math.MaxInt64),
				attribute.Float64("pi", 3.14159), attribute.Float64("fzero", 0),
				attribute.StringSlice("ss", []string{"a", "", "c"}), attribute.BoolSlice("bs", []bool{true, false}),
				attribute.Int64Slice("is", []int64{1, -1, 0}), attribute.Float64Slice("fs", []float64{0.5, -2}),
				attribute.String("long", string(long)),
			},
		},
		{
			Name: "child", Resource: res, SpanKind: trace.SpanKindServer,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, TraceState: ts}),
			Parent:      parent,
			StartTime:   start, EndTime: start.Add(2 * time.Second),
			InstrumentationScope: instrumentation.Scope{Name: "lib", Version: "1.0"},
			Status:               sdktrace.Status{Code: codes.Error, Description: "boom"},
			Events: []sdktrace.Event{
				{Name: "exception", Time: start.Add(time.Microsecond), Attributes: []attribute.KeyValue{attribute.String("exception.message", "x")}, DroppedAttributeCount: 2},
				{Name: "bare", Time: start},
			},
			Links: []sdktrace.Link{
				{SpanContext: parent, Attributes: []attribute.KeyValue{attribute.Int("n", 1)}, DroppedAttributeCount: 1},
				{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{3}, TraceState: ts})},
			},
			DroppedAttributes: 3, DroppedEvents: 4, DroppedLinks: 5, ChildSpanCount: 1,
		},
		{
			Name: "other-scope", Resource: res, SpanKind: trace.SpanKindClient, Status: sdktrace.Status{Code: codes.Ok},
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{4}}),
			StartTime:   start, EndTime: start,
			InstrumentationScope: instrumentation.Scope{Name: "db", SchemaURL: "https://opentelemetry.io/schemas/1.20.0", Attributes: attribute.NewSet(attribute.String("k", "v"))},
		},
		{
			Name: "other-resource", Resource: res2, SpanKind: trace.SpanKindConsumer,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{5}}),
			StartTime:   start, EndTime: start.Add(time.Hour),
			Attributes: []attribute.KeyValue{
				attribute.Slice("mixed", attribute.StringValue("a"), attribute.IntValue(1), attribute.BoolValue(false)),
				attribute.Map("m", attribute.String("x", "y"), attribute.Float64("z", 1.5)),
				attribute.ByteSlice("bytes", []byte{0, 1, 2}),
				{Key: "nothing"},
			},
		},
		{
			Name: "same-scope-again", Resource: res, SpanKind: trace.SpanKindProducer,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{6}}),
			StartTime:   start, EndTime: start.Add(time.Second),
			InstrumentationScope: instrumentation.Scope{Name: "lib", Version: "1.0"},
		},
	}
	return stubs.Snapshots()
}

// spanOrder keys every span by name, since the official exporter orders resources by map
// iteration.
func spansByName(t *testing.T, body []byte) map[string][]byte {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	rss := req.Traces().ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		for j := range rs.ScopeSpans().Len() {
			ss := rs.ScopeSpans().At(j)
			for k := range ss.Spans().Len() {
				one := ptraceotlp.NewExportRequest()
				nrs := one.Traces().ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(nrs.Resource())
				nrs.SetSchemaUrl(rs.SchemaUrl())
				nss := nrs.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(nss.Scope())
				nss.SetSchemaUrl(ss.SchemaUrl())
				sp := nss.Spans().AppendEmpty()
				ss.Spans().At(k).CopyTo(sp)
				// The official exporter leaves a link's trace state out; we send it.
				for l := range sp.Links().Len() {
					sp.Links().At(l).TraceState().FromRaw("")
				}
				b, err := one.MarshalProto()
				if err != nil {
					t.Fatal(err)
				}
				out[ss.Spans().At(k).Name()] = b
			}
		}
	}
	return out
}

func TestTraceEncoderMatchesOfficialExporter(t *testing.T) {
	spans := testSpans()
	var enc TraceEncoder
	ours := enc.AppendSpans(nil, spans)
	theirs := officialTraces(t, spans)
	got, want := spansByName(t, ours), spansByName(t, theirs)
	if len(got) != len(spans) || len(want) != len(spans) {
		t.Fatalf("spans: ours %d, official %d, want %d", len(got), len(want), len(spans))
	}
	for name, w := range want {
		if string(got[name]) != string(w) {
			t.Errorf("span %q differs from the official exporter's encoding:\n ours %s\n theirs %s", name, jsonOf(t, got[name]), jsonOf(t, w))
		}
	}
	// Same grouping: two resources, the first with two scopes.
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(ours); err != nil {
		t.Fatal(err)
	}
	rss := req.Traces().ResourceSpans()
	if rss.Len() != 2 || rss.At(0).ScopeSpans().Len() != 2 || rss.At(0).ScopeSpans().At(0).Spans().Len() != 3 {
		t.Errorf("grouping: %d resources, first with %d scopes", rss.Len(), rss.At(0).ScopeSpans().Len())
	}
	if ts := rss.At(0).ScopeSpans().At(0).Spans().At(1).Links().At(1).TraceState().AsRaw(); ts != "vendor=value,other=x" {
		t.Errorf("link trace state = %q", ts)
	}
	// The encoder keeps no state between calls: a second call gives the same bytes.
	again := enc.AppendSpans(nil, spans)
	if string(again) != string(ours) {
		t.Error("second encoding differs")
	}
}

func TestTraceEncoderAppendsAndConcatenates(t *testing.T) {
	spans := testSpans()
	var enc TraceEncoder
	one := enc.AppendSpans(nil, spans[:2])
	both := enc.AppendSpans(append([]byte(nil), one...), spans[2:])
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(both); err != nil {
		t.Fatal(err)
	}
	if n := req.Traces().SpanCount(); n != len(spans) {
		t.Fatalf("spans = %d, want %d", n, len(spans))
	}
	if got := enc.AppendSpans(nil, nil); len(got) != 0 {
		t.Errorf("no spans: %d bytes", len(got))
	}
}

// FuzzTraceEncoder checks, for arbitrary names and attribute values, that pdata decodes what
// the encoder writes into the same values.
func FuzzTraceEncoder(f *testing.F) {
	f.Add("name", "key", "value", int64(1), 1.5, true, uint8(3))
	f.Add("", "", "", int64(-1), math.Inf(1), false, uint8(200))
	f.Fuzz(func(t *testing.T, name, key, sval string, ival int64, fval float64, bval bool, nattrs uint8) {
		var attrs []attribute.KeyValue
		for i := range int(nattrs) {
			key := key + strconv.Itoa(i) // distinct keys: pdata's map looks keys up
			switch i % 4 {
			case 0:
				attrs = append(attrs, attribute.String(key, sval))
			case 1:
				attrs = append(attrs, attribute.Int64(key, ival+int64(i)))
			case 2:
				attrs = append(attrs, attribute.Float64(key, fval))
			case 3:
				attrs = append(attrs, attribute.Bool(key, bval))
			}
		}
		stub := tracetest.SpanStub{
			Name: name, Attributes: attrs,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{byte(ival)}, SpanID: trace.SpanID{1}}),
			StartTime:   time.Unix(0, ival), EndTime: time.Unix(0, ival).Add(time.Second),
			Resource: resource.NewSchemaless(attribute.String(key, sval)),
		}
		var enc TraceEncoder
		body := enc.AppendSpans(nil, []sdktrace.ReadOnlySpan{stub.Snapshot()})
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		sp := req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		if sp.Name() != name || sp.Attributes().Len() != len(attrs) {
			t.Fatalf("name %q attrs %d, want %q %d", sp.Name(), sp.Attributes().Len(), name, len(attrs))
		}
		for i, kv := range attrs {
			v, ok := sp.Attributes().Get(string(kv.Key))
			if got := v.AsRaw(); !ok || !sameValue(got, kv.Value.AsInterface()) {
				t.Fatalf("attr %d = %#v, want %#v", i, got, kv.Value.AsInterface())
			}
		}
		if uint64(sp.StartTimestamp()) != unixNano(ival) {
			t.Fatalf("start = %d, want %d", sp.StartTimestamp(), ival)
		}
	})
}

func sameValue(got, want any) bool {
	if f, ok := want.(float64); ok {
		g, ok := got.(float64)
		return ok && math.Float64bits(g) == math.Float64bits(f)
	}
	return got == want
}

func jsonOf(t *testing.T, body []byte) string {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	b, _ := req.MarshalJSON()
	return string(b)
}
