package sender_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

func TestMemoryQueueFIFOAndCopies(t *testing.T) {
	q := sender.NewMemoryQueue(sender.QueueConfig{QueueSize: 100, FullPolicy: sender.PolicyBlock}, nil)
	body := []byte("abc")
	for i := range 3 {
		body[0] = byte('0' + i)
		if err := q.Put(t.Context(), pipeline.Batch{Signal: pipeline.SignalLogs, Body: body, Items: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	body[0] = 'X' // the caller reuses its buffer
	if q.Len() != 6 || q.Bytes() != 9 {
		t.Fatalf("len %d bytes %d, want 6 and 9", q.Len(), q.Bytes())
	}
	for i := range 3 {
		it, err := q.Get(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if it.Batch.Items != i+1 || it.Batch.Body[0] != byte('0'+i) {
			t.Errorf("got %d %q, want %d %q", it.Batch.Items, it.Batch.Body, i+1, string(rune('0'+i))+"bc")
		}
		it.Done(true)
	}
	if q.Len() != 0 || q.Bytes() != 0 {
		t.Errorf("len %d bytes %d after draining", q.Len(), q.Bytes())
	}
}

func TestMemoryQueueBounds(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		maxBytes int64
		batches  []pipeline.Batch
		accepted int
	}{
		{"items", 10, 0, []pipeline.Batch{batch(6), batch(4), batch(1)}, 2},
		{"bytes", 1000, 100, []pipeline.Batch{batch(6), batch(4), batch(1)}, 2},
		{"oversize alone", 10, 0, []pipeline.Batch{batch(50), batch(1)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := sender.NewMemoryQueue(sender.QueueConfig{QueueSize: tt.size, MaxBytes: tt.maxBytes, FullPolicy: sender.PolicyBlock}, nil)
			accepted := 0
			for _, b := range tt.batches {
				if err := q.Put(t.Context(), b); err == nil {
					accepted++
				} else if !errors.Is(err, sender.ErrQueueFull) {
					t.Fatal(err)
				}
			}
			if accepted != tt.accepted {
				t.Errorf("accepted %d, want %d", accepted, tt.accepted)
			}
		})
	}
}

func TestMemoryQueueCloseDrainsAndPutBack(t *testing.T) {
	q := sender.NewMemoryQueue(sender.QueueConfig{QueueSize: 100, FullPolicy: sender.PolicyBlock}, nil)
	_ = q.Put(t.Context(), batch(1))
	_ = q.Put(t.Context(), batch(2))
	q.Close()
	if err := q.Put(t.Context(), batch(3)); !errors.Is(err, sender.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	it, err := q.Get(t.Context())
	if err != nil || it.Batch.Items != 1 {
		t.Fatalf("Get after Close: %v %v", it.Batch.Items, err)
	}
	it.Done(false) // interrupted: back at the head
	lost := q.Discard()
	if len(lost) != 2 || lost[0].Items != 1 || lost[1].Items != 2 {
		t.Errorf("Discard: %+v", lost)
	}
	if _, err := q.Get(t.Context()); !errors.Is(err, sender.ErrClosed) {
		t.Errorf("Get on a closed empty queue: %v", err)
	}
}

func TestMemoryQueueGetWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := sender.NewMemoryQueue(sender.QueueConfig{QueueSize: 100, FullPolicy: sender.PolicyBlock}, nil)
		got := make(chan int, 1)
		go func() {
			it, err := q.Get(context.Background())
			if err != nil {
				got <- -1
				return
			}
			got <- it.Batch.Items
		}()
		synctest.Wait()
		select {
		case <-got:
			t.Fatal("Get returned on an empty queue")
		default:
		}
		_ = q.Put(t.Context(), batch(9))
		if n := <-got; n != 9 {
			t.Errorf("got %d", n)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := q.Get(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Get with an ended context: %v", err)
		}
	})
}

func TestMemoryQueueDropOldestReports(t *testing.T) {
	var dropped []int
	q := sender.NewMemoryQueue(sender.QueueConfig{QueueSize: 5, FullPolicy: sender.PolicyDropOldest},
		func(b pipeline.Batch) { dropped = append(dropped, b.Items) })
	for _, n := range []int{2, 3, 4} {
		if err := q.Put(t.Context(), batch(n)); err != nil {
			t.Fatal(err)
		}
	}
	if len(dropped) != 2 || dropped[0] != 2 || dropped[1] != 3 || q.Len() != 4 {
		t.Errorf("dropped %v, len %d; want [2 3] and 4", dropped, q.Len())
	}
}

func TestMemoryQueueTakesAnOfferedBody(t *testing.T) {
	q := sender.NewMemoryQueue(sender.QueueConfig{QueueSize: 1, FullPolicy: sender.PolicyBlock}, nil)
	body := []byte("owned")
	var released [][]byte
	o := pipeline.NewOwner(body, func(b []byte) { released = append(released, b) })
	if err := q.Put(t.Context(), pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: 1, Owner: o}); err != nil {
		t.Fatal(err)
	}
	if !o.Taken() {
		t.Fatal("the queue copied an offered body instead of taking it")
	}
	// Full now (QueueSize 1, no block timeout): the refused batch stays its producer's.
	other := []byte("refused")
	o2 := pipeline.NewOwner(other, nil)
	if err := q.Put(t.Context(), pipeline.Batch{Signal: pipeline.SignalTraces, Body: other, Items: 1, Owner: o2}); !errors.Is(err, sender.ErrQueueFull) {
		t.Fatalf("Put on a full queue: %v, want ErrQueueFull", err)
	}
	if o2.Taken() {
		t.Fatal("a refused Put kept the body taken: its producer would never reuse it")
	}
	it, err := q.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if &it.Batch.Body[0] != &body[0] {
		t.Fatal("Get returned a copy of a taken body")
	}
	if len(released) != 0 {
		t.Fatal("released before the batch was handled")
	}
	it.Done(true)
	if len(released) != 1 || &released[0][0] != &body[0] {
		t.Fatalf("Done released %d buffers, want the taken body back to its producer", len(released))
	}
}
