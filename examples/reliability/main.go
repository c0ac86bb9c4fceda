// Reliability: a disk buffer keeps every span through a collector outage and a restart of
// this program. Start it, stop otlp-server for a while, start it again: the counters show
// spans queued on disk and then delivered, with nothing dropped. Stop this program during an
// outage and start it again: what was on disk is delivered first.
//
//	go run ./cmd/otlp-server &
//	go run ./examples/reliability
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/otlp-dev/otlp/otlp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	client, err := otlp.New(ctx, otlp.WithService("reliability", ""),
		otlp.WithEndpoint("http://localhost:4317"),
		otlp.WithDiskBuffer("otlp-buffer"), // relative to the working directory
		otlp.WithFullPolicy(otlp.FullBlock, 50*time.Millisecond),
		otlp.WithCircuitBreaker(otlp.BreakerConfig{FailureThreshold: 3, RecoveryTimeout: 2 * time.Second}))
	if err != nil {
		log.Fatal(err)
	}
	tracer := client.Tracer("reliability")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for range 100 {
			_, span := tracer.Start(ctx, "tick")
			span.End()
		}
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = client.Shutdown(sctx)
			st := client.Stats()
			fmt.Printf("stopped: %d spans kept on disk for the next start, dropped %v\n", st.Kept, st.Traces.Dropped)
			return
		case <-tick.C:
		}
		st := client.Stats()
		breaker := "?"
		if len(st.Endpoints) > 0 {
			breaker = st.Endpoints[0].Breaker
		}
		fmt.Printf("accepted %d exported %d queued %d dropped %v retries %d breaker %s\n",
			st.Traces.Accepted, st.Traces.Exported, st.Queued, st.Traces.Dropped, st.Retries, breaker)
	}
}
