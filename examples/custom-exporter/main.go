// Custom exporter: send telemetry to any backend. The exporter receives encoded OTLP requests
// from the client's queue, behind its retry, circuit breaker and optional disk buffer; here it
// prints one JSON line per span.
//
//	go run ./examples/custom-exporter
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/otlp-dev/otlp/otlp"
)

// stdoutExporter writes spans as JSON lines; metrics and logs are ignored.
type stdoutExporter struct{ enc *json.Encoder }

func (e stdoutExporter) Export(_ context.Context, r otlp.Request) error {
	if r.Signal != otlp.SignalTraces {
		return nil
	}
	td, err := r.Traces()
	if err != nil {
		return otlp.Permanent(err) // malformed: retrying will not help, the spans are counted dropped
	}
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				sp := spans.At(k)
				line := map[string]any{
					"trace_id": sp.TraceID().String(), "span_id": sp.SpanID().String(), "name": sp.Name(),
					"duration_ms": float64(sp.EndTimestamp()-sp.StartTimestamp()) / 1e6, "attributes": sp.Attributes().AsRaw(),
				}
				if err := e.enc.Encode(line); err != nil {
					return errors.Join(errors.New("stdout"), err) // retried
				}
			}
		}
	}
	return nil
}

func main() {
	ctx := context.Background()
	client, err := otlp.New(ctx, otlp.WithService("custom-exporter", ""),
		otlp.WithExporter(stdoutExporter{enc: json.NewEncoder(os.Stdout)}))
	if err != nil {
		log.Fatal(err)
	}
	tracer := client.Tracer("example")
	for i := range 3 {
		_, span := tracer.Start(ctx, "work")
		span.SetAttributes(attribute.Int("i", i))
		time.Sleep(time.Millisecond) // simulated work
		span.End()
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Shutdown(sctx); err != nil {
		log.Fatal(err)
	}
}
