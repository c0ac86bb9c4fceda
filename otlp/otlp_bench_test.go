package otlp

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// BenchmarkSpan is the application's cost of one span (start, 4 attributes, end) with a
// backend that accepts at once: encoding and queueing included, network excluded.
func BenchmarkSpan(b *testing.B) {
	ctx := context.Background()
	c, err := New(ctx, WithEnv(nil), WithMetricInterval(time.Hour), WithLogger(slog.New(slog.DiscardHandler)),
		WithExporter(ExporterFunc(func(context.Context, Request) error { return nil })))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Shutdown(ctx)
	tr := c.Tracer("bench")
	attrs := []attribute.KeyValue{attribute.String("a", "x"), attribute.Int("b", 1), attribute.Bool("c", true), attribute.Float64("d", 1.5)}
	b.ReportAllocs()
	for b.Loop() {
		_, sp := tr.Start(ctx, "op")
		sp.SetAttributes(attrs...)
		sp.End()
	}
}
