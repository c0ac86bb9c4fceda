package hostmetrics

import (
	"context"
	"testing"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// BenchmarkCollect is one real scrape of this machine, encoded and handed to a consumer: the
// agent's cost per collection interval.
func BenchmarkCollect(b *testing.B) {
	var points int
	r, err := New(NewDefaultConfig(), Settings{Consumer: pipeline.ConsumerFunc(func(_ context.Context, batch pipeline.Batch) error {
		points = batch.Items
		return nil
	})})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	r.boot = bootTime(ctx, r.now())
	b.ReportAllocs()
	for b.Loop() {
		r.collect(ctx)
	}
	b.ReportMetric(float64(points), "points/op")
}
