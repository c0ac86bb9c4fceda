// Production configuration: everything from a TOML file (the server's [otlp] shape plus an
// [sdk] section), reloaded when the file changes. Edit sampling_ratio or endpoints in
// otlp.toml while this runs; an invalid edit is rejected and the running configuration stays.
//
//	go run ./cmd/otlp-server &
//	go run ./examples/config -config examples/config/otlp.toml
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/otlp-dev/otlp/otlp"
)

func main() {
	path := flag.String("config", "examples/config/otlp.toml", "configuration file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// The file's values are overridden by OTEL_* variables, which code options override.
	client, err := otlp.New(ctx, otlp.FromConfigFile(*path), otlp.WithGlobal())
	if err != nil {
		log.Fatal(err)
	}
	defer client.OnReload(func(ev otlp.ReloadEvent) {
		if ev.Err != nil {
			log.Printf("reload rejected: %v", ev.Err)
			return
		}
		log.Printf("reloaded: endpoints %v, sampling ratio %v", ev.Config.Export.Endpoints, ev.Config.SamplingRatio)
	})()
	tracer := client.Tracer("config-example")
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = client.Shutdown(sctx)
			return
		case <-tick.C:
			_, span := tracer.Start(ctx, "work")
			span.End()
		}
	}
}
