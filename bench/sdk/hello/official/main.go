// Command official is the hello-world traced program of ../ours on the official OpenTelemetry
// Go SDK the usual way: a tracer provider with a batch span processor and the OTLP/gRPC
// exporter, and a meter and a logger provider with their OTLP/gRPC exporters, as the otlp
// package sets up all three signals.
package main

import (
	"context"
	"log"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	ctx := context.Background()
	te, err := otlptracegrpc.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	me, err := otlpmetricgrpc.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	le, err := otlploggrpc.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(te))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me)))
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(le)))
	_, span := tp.Tracer("hello").Start(ctx, "hello")
	span.End()
	for _, shutdown := range []func(context.Context) error{tp.Shutdown, mp.Shutdown, lp.Shutdown} {
		if err := shutdown(ctx); err != nil {
			log.Print(err)
		}
	}
}
