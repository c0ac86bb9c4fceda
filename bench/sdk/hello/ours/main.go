// Command ours is a hello-world traced program on this project's SDK: bench/sdk.sh compares
// its binary size with the same program on the official OpenTelemetry Go SDK (../official).
package main

import (
	"context"
	"log"

	"github.com/otlp-dev/otlp/otlp"
)

func main() {
	ctx := context.Background()
	c, err := otlp.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	_, span := c.Tracer("hello").Start(ctx, "hello")
	span.End()
	if err := c.Shutdown(ctx); err != nil {
		log.Print(err)
	}
}
