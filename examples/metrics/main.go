// Advanced metrics: counters, up-down counters, histograms with explicit buckets, gauges and
// observable instruments with attributes, exported every 5 seconds.
//
//	go run ./cmd/otlp-server &
//	go run ./examples/metrics
package main

import (
	"context"
	"log"
	"math/rand/v2"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otlp-dev/otlp/otlp"
)

func main() {
	ctx := context.Background()
	client, err := otlp.New(ctx, otlp.WithService("metrics-example", ""),
		otlp.WithEndpoint("http://localhost:4317"), otlp.WithMetricInterval(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Shutdown(sctx)
	}()
	m := client.Meter("shop")
	orders, _ := m.Int64Counter("shop.orders", metric.WithUnit("{order}"))
	inFlight, _ := m.Int64UpDownCounter("shop.requests.in_flight")
	latency, _ := m.Float64Histogram("shop.request.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
	temp, _ := m.Float64Gauge("shop.warehouse.temperature", metric.WithUnit("Cel"))
	_, _ = m.Int64ObservableGauge("process.goroutines", metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(runtime.NumGoroutine()))
		return nil
	}))

	for i := range 200 {
		region := attribute.String("region", []string{"eu", "us", "ap"}[i%3])
		inFlight.Add(ctx, 1, metric.WithAttributes(region))
		d := rand.ExpFloat64() / 20
		latency.Record(ctx, d, metric.WithAttributes(region, attribute.String("route", "/checkout")))
		orders.Add(ctx, 1, metric.WithAttributes(region, attribute.Bool("express", i%5 == 0)))
		temp.Record(ctx, 4+rand.Float64(), metric.WithAttributes(attribute.String("warehouse", "north")))
		inFlight.Add(ctx, -1, metric.WithAttributes(region))
		time.Sleep(50 * time.Millisecond) // a request every 50ms
	}
}
