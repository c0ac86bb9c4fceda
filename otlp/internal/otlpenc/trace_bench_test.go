package otlpenc

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func BenchmarkAppendSpans(b *testing.B) {
	one := testSpans()
	spans := make([]sdktrace.ReadOnlySpan, 0, 512)
	for len(spans) < 512 {
		spans = append(spans, one...)
	}
	spans = spans[:512]
	var enc TraceEncoder
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.AppendSpans(buf[:0], spans)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
}
