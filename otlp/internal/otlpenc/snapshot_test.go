package otlpenc

import (
	"context"
	"reflect"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// sdkSpans makes spans with the SDK itself (the snapshots its OnEnd hands over), using every
// field: a remote parent with a trace state, kinds, attributes over the limit, events and
// links with attributes, an error status, two scopes.
func sdkSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	limits := sdktrace.NewSpanLimits()
	limits.AttributeCountLimit, limits.EventCountLimit, limits.LinkCountLimit = 3, 1, 1
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithRawSpanLimits(limits),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc"))))
	defer tp.Shutdown(context.Background())
	ts, err := trace.ParseTraceState("vendor=value")
	if err != nil {
		t.Fatal(err)
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5},
		TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	tr := tp.Tracer("lib", trace.WithInstrumentationVersion("1.0"), trace.WithInstrumentationAttributes(attribute.Int("k", 1)))

	ctx, parent := tr.Start(ctx, "parent", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("a", "x"), attribute.Int("b", 2), attribute.Bool("c", true), attribute.Float64("d", 1.5)),
		trace.WithLinks(trace.Link{SpanContext: remote, Attributes: []attribute.KeyValue{attribute.String("l", "v")}},
			trace.Link{SpanContext: remote}))
	parent.AddEvent("first", trace.WithAttributes(attribute.StringSlice("s", []string{"p", "q"})))
	parent.AddEvent("dropped")
	parent.AddEvent("dropped too")
	parent.SetStatus(codes.Error, "boom")
	_, child := tp.Tracer("db").Start(ctx, "child", trace.WithSpanKind(trace.SpanKindClient))
	child.SetStatus(codes.Ok, "")
	child.End()
	parent.End()
	return rec.Ended()
}

// TestSnapshotLayout checks that the SDK in go.mod has the span snapshot layout the encoder
// reads in place (a newer SDK that moved it would only make encoding slower), and that reading
// it in place gives exactly what the span's methods give, so the encodings are the same.
func TestSnapshotLayout(t *testing.T) {
	spans := sdkSpans(t)
	l := findSnapshotLayout(spans[0])
	if l == nil {
		t.Fatalf("the span snapshot of this SDK (%T) cannot be read in place: the encoder falls back to its methods", spans[0])
	}
	for _, sp := range spans {
		var fast, slow spanData
		if !l.read(sp, &fast) {
			t.Fatalf("%T not read in place", sp)
		}
		readSpan(sp, &slow)
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("span %q read in place:\n%+v\nthrough its methods:\n%+v", sp.Name(), fast, slow)
		}
		if res, sc, ok := l.group(sp); !ok || res != sp.Resource() || sc != sp.InstrumentationScope() {
			t.Errorf("span %q: resource and scope read in place differ", sp.Name())
		}
		if sp.Name() == "parent" && (fast.droppedAttrs != 1 || fast.droppedEvents != 2 || fast.droppedLinks != 1) {
			t.Errorf("parent span dropped %d attributes, %d events, %d links; want 1, 2, 1 (distinct counts catch a swapped offset)",
				fast.droppedAttrs, fast.droppedEvents, fast.droppedLinks)
		}
	}
	// Another implementation of ReadOnlySpan is read through its methods.
	stub := tracetest.SpanStub{Name: "stub"}.Snapshot()
	if findSnapshotLayout(stub) != nil || l.read(stub, new(spanData)) {
		t.Errorf("%T read in place", stub)
	}
	var nilLayout *snapshotLayout
	if nilLayout.read(spans[0], new(spanData)) {
		t.Error("a nil layout read a span")
	}
}

// TestSDKSpansMatchOfficialExporter encodes spans made by the SDK (read in place) and
// compares them with the official exporter's encoding, span by span.
func TestSDKSpansMatchOfficialExporter(t *testing.T) {
	spans := sdkSpans(t)
	var enc TraceEncoder
	ours := enc.AppendSpans(nil, spans)
	if enc.layout == nil {
		t.Fatal("the encoder did not read the SDK's spans in place")
	}
	got, want := spansByName(t, ours), spansByName(t, officialTraces(t, spans))
	if len(got) != len(spans) || len(want) != len(spans) {
		t.Fatalf("spans: ours %d, official %d, want %d", len(got), len(want), len(spans))
	}
	for name, w := range want {
		if string(got[name]) != string(w) {
			t.Errorf("span %q differs from the official exporter's encoding:\n ours %s\n theirs %s", name, jsonOf(t, got[name]), jsonOf(t, w))
		}
	}
	// The same bytes as through the methods, request included.
	slow := TraceEncoder{probed: true}
	if again := slow.AppendSpans(nil, spans); string(again) != string(ours) {
		t.Error("reading in place and through the methods encode differently")
	}
}
