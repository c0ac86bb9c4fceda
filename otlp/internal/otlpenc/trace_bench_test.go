package otlpenc

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkAppendSpans encodes batches of the test spans (every attribute type, events,
// links, trace state).
func BenchmarkAppendSpans(b *testing.B) {
	one := testSpans()
	spans := make([]sdktrace.ReadOnlySpan, 0, 512)
	for len(spans) < 512 {
		spans = append(spans, one...)
	}
	benchAppendSpans(b, spans[:512])
}

// BenchmarkAppendSpansTypical encodes batches of 512 spans made by the SDK as bench/sdk makes
// them: a name and 4 scalar attributes.
func BenchmarkAppendSpansTypical(b *testing.B) {
	benchAppendSpans(b, typicalSpans(512))
}

func typicalSpans(n int) []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := tp.Tracer("bench")
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", "GET"), attribute.String("url.path", "/api/v1/items"),
		attribute.Int("http.response.status_code", 200), attribute.Bool("cache.hit", true),
	}
	for range n {
		_, sp := tr.Start(context.Background(), "GET /api/v1/items")
		sp.SetAttributes(attrs...)
		sp.End()
	}
	return rec.Ended()
}

func benchAppendSpans(b *testing.B, spans []sdktrace.ReadOnlySpan) {
	var enc TraceEncoder
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.AppendSpans(buf[:0], spans)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
}
