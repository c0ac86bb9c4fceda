// Quickstart: traces, metrics and logs to the zero-config otlp-server on localhost:4317.
//
//	go run ./cmd/otlp-server &
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"

	"github.com/otlp-dev/otlp/otlp"
)

func main() {
	ctx := context.Background()
	client, err := otlp.New(ctx,
		otlp.WithService("quickstart", "1.0.0"), // to http://localhost:4317; OTEL_EXPORTER_OTLP_ENDPOINT changes it
		otlp.WithGlobal(),                       // otel.Tracer(...) and instrumentation libraries use the client
	)
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Shutdown(ctx); err != nil {
			log.Print(err)
		}
		st := client.Stats()
		fmt.Printf("spans: %d accepted, %d exported, dropped %v\n", st.Traces.Accepted, st.Traces.Exported, st.Traces.Dropped)
	}()

	tracer := client.Tracer("quickstart")
	requests, _ := client.Meter("quickstart").Int64Counter("requests")
	logger := client.Logger("quickstart")

	for i := range 10 {
		ctx, span := tracer.Start(ctx, "handle")
		span.SetAttributes(attribute.Int("request.id", i))
		requests.Add(ctx, 1)
		var rec otellog.Record
		rec.SetSeverity(otellog.SeverityInfo)
		rec.SetBody(attribute.StringValue("handled a request"))
		logger.Emit(ctx, rec) // carries the span's trace and span ids
		span.End()
	}
}
