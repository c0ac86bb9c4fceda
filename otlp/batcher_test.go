package otlp

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// keeper is a destination that keeps every request it is offered, as the sending queue does.
type keeper struct {
	mu     sync.Mutex
	kept   []pipeline.Batch
	copies [][]byte
}

func (k *keeper) Start(context.Context) error    { return nil }
func (k *keeper) Shutdown(context.Context) error { return nil }
func (k *keeper) Consume(_ context.Context, b pipeline.Batch) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b.Owner.Take(b.Body) {
		k.kept = append(k.kept, b)
	}
	k.copies = append(k.copies, bytes.Clone(b.Body))
	return nil
}

func TestBatcherHandsEncodedRequestsOver(t *testing.T) {
	k := &keeper{}
	var dest destRef
	dest.store(k)
	var limits batchLimits
	limits.set(BatchConfig{MaxSize: 2, QueueSize: 100, Timeout: time.Hour, FullPolicy: FullBlock})
	encode := func(dst []byte, items []string) []byte {
		for _, it := range items {
			dst = append(dst, it...)
		}
		return dst
	}
	b := newBatcher(pipeline.SignalLogs, encode, &dest, &limits, nil, slog.New(slog.DiscardHandler))
	for _, it := range []string{"a1", "b2", "c3", "d4", "e5", "f6"} {
		b.add(it)
	}
	if err := b.shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.kept) != 3 {
		t.Fatalf("the destination took %d of %d requests, want all (taken, not copied)", len(k.kept), len(k.copies))
	}
	for i, kb := range k.kept {
		if !bytes.Equal(kb.Body, k.copies[i]) {
			t.Fatalf("request %d changed while the destination held it: %q, sent %q", i, kb.Body, k.copies[i])
		}
	}
	if got := b.bodies.Get(0); got != nil {
		t.Fatal("a taken buffer was back in the pool before the destination released it")
	}
	first := k.kept[0]
	first.Owner.Release(first.Body)
	if got := b.bodies.Get(0); got == nil || cap(got) != cap(first.Body) {
		t.Fatal("a released buffer did not come back for the next request")
	}
}

// A chunk of max_size items that encodes larger than max_bytes goes out in several requests,
// each within the cap, every item exactly once and in order; an item larger than the cap on its
// own goes alone.
func TestBatcherSplitsRequestsOverMaxBytes(t *testing.T) {
	k := &keeper{}
	var dest destRef
	dest.store(k)
	var limits batchLimits
	limits.set(BatchConfig{MaxSize: 8, MaxBytes: 10, QueueSize: 100, Timeout: time.Hour, FullPolicy: FullBlock})
	encode := func(dst []byte, items []string) []byte {
		for _, it := range items {
			dst = append(dst, it...)
		}
		return dst
	}
	b := newBatcher(pipeline.SignalLogs, encode, &dest, &limits, nil, slog.New(slog.DiscardHandler))
	// 2-byte items, then 4-byte ones (the estimate from the first request is too small), then
	// one of 12 bytes.
	items := []string{"a1", "b2", "c3", "d4", "e5", "f6", "g7", "h8",
		"i999", "j999", "k999", "l999", "m999", "n999", "o999", "p999",
		"q12345678901"}
	for _, it := range items {
		b.add(it)
	}
	if err := b.shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var all string
	for i, c := range k.copies {
		if len(c) > 10 && string(c) != "q12345678901" {
			t.Errorf("request %d is %d bytes (%q), over max_bytes 10", i, len(c), c)
		}
		all += string(c)
	}
	if want := strings.Join(items, ""); all != want {
		t.Fatalf("requests carry %q, want every item once in order: %q", all, want)
	}
	if len(k.copies) < 6 {
		t.Fatalf("%d requests for 46 bytes under a 10-byte cap", len(k.copies))
	}
}
