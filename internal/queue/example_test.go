package queue_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/queue"
)

func Example() {
	dir, err := os.MkdirTemp("", "queue-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	cfg := queue.NewDefaultConfig()
	cfg.Fsync = queue.FsyncAlways
	q, err := queue.Open(dir, cfg, queue.Settings{})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	ctx := context.Background()
	// A receiver's pipeline puts; an error is returned to the sender (retryable when full).
	if err := q.Put(ctx, pipeline.Batch{Signal: pipeline.SignalTraces, Body: []byte("request"), Items: 3}); err != nil {
		log.Fatal(err)
	}

	// An exporter's loop gets, sends, and acks (or nacks to retry later).
	d, err := q.Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Signal, d.Items, string(d.Body))
	if err := d.Ack(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(q.Stats().Records, "left")
	// Output:
	// traces 3 request
	// 0 left
}
