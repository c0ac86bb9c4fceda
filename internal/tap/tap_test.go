package tap

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// sink records what reached the pipeline behind a point.
type sink struct {
	mu     sync.Mutex
	bodies [][]byte
	err    error
}

func (s *sink) Consume(_ context.Context, b pipeline.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.bodies = append(s.bodies, append([]byte(nil), b.Body...))
	return nil
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func batch(body string, items int) pipeline.Batch {
	return pipeline.Batch{Signal: pipeline.SignalTraces, Body: []byte(body), Items: items}
}

func mustSubscribe(t *testing.T, h *Hub, sel Selector, opt Options) *Subscription {
	t.Helper()
	s, err := h.Subscribe("test", sel, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestNoSubscriberPassesThroughWithoutAllocating(t *testing.T) {
	h := NewHub()
	next := pipeline.ConsumerFunc(func(context.Context, pipeline.Batch) error { return nil })
	c := h.Wrap(Received, pipeline.SignalTraces, "otlp", next)
	b := batch("abc", 1)
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { _ = c.Consume(ctx, b) }); n != 0 {
		t.Fatalf("a point without subscribers allocates %v times per batch", n)
	}
}

func TestSubscriberGetsACopyOfWhatWasAccepted(t *testing.T) {
	h := NewHub()
	s := mustSubscribe(t, h, Selector{Position: Received, Signal: pipeline.SignalTraces}, Options{})
	// The consumer takes the body (as a memory queue does) and overwrites it: the tap's copy
	// must not change.
	var taken []byte
	next := pipeline.ConsumerFunc(func(_ context.Context, b pipeline.Batch) error {
		if !b.Owner.Take(b.Body) {
			t.Fatal("the point kept the consumer from taking the body")
		}
		taken = b.Body
		return nil
	})
	c := h.Wrap(Received, pipeline.SignalTraces, "otlp", next)
	b := batch("hello", 3)
	b.Owner = pipeline.NewOwner(b.Body, nil)
	if err := c.Consume(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	copy(taken, "XXXXX")
	got, err := s.Recv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != "hello" || got.Items != 3 || got.Owner != nil || got.Name != "otlp" || got.Position != Received {
		t.Fatalf("got %+v body %q", got, got.Body)
	}
	got.Release()
	got.Release() // a second release changes nothing
	if st := s.Stats(); st != (Stats{Batches: 1, Items: 3}) {
		t.Fatalf("stats %+v", st)
	}
	if s.held.Load() != 0 || s.heldBytes.Load() != 0 {
		t.Fatalf("held %d batches, %d bytes after release", s.held.Load(), s.heldBytes.Load())
	}
}

// A subscriber that never reads: the pipeline gets every batch, the subscription holds its
// bound and counts the rest as skipped; once it releases, it receives again.
func TestStalledSubscriberIsSkippedAndCounted(t *testing.T) {
	h := NewHub()
	s := mustSubscribe(t, h, Selector{Position: Exported}, Options{MaxBatches: 2})
	out := &sink{}
	c := h.Wrap(Exported, pipeline.SignalLogs, "logs", out)
	for i := 0; i < 10; i++ {
		if err := c.Consume(context.Background(), batch("0123456789", 5)); err != nil {
			t.Fatal(err)
		}
	}
	if out.count() != 10 {
		t.Fatalf("pipeline got %d of 10 batches", out.count())
	}
	if st := s.Stats(); st != (Stats{Batches: 2, Items: 10, SkippedBatches: 8, SkippedItems: 40}) {
		t.Fatalf("stats %+v", st)
	}
	b := <-s.C()
	b.Release()
	if err := c.Consume(context.Background(), batch("x", 1)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Batches != 3 || st.SkippedBatches != 8 {
		t.Fatalf("after a release: %+v", st)
	}
}

func TestByteBound(t *testing.T) {
	h := NewHub()
	s := mustSubscribe(t, h, Selector{Position: Received}, Options{MaxBytes: 10})
	c := h.Wrap(Received, pipeline.SignalMetrics, "otlp", &sink{})
	for _, body := range []string{"123456", "1234", "1", "12345678901"} {
		if err := c.Consume(context.Background(), batch(body, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// 6 + 4 fill the 10 bytes; "1" does not fit; the 11-byte batch never can.
	if st := s.Stats(); st.Batches != 2 || st.SkippedBatches != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefusedBatchIsNotDelivered(t *testing.T) {
	h := NewHub()
	s := mustSubscribe(t, h, Selector{Position: Received}, Options{MaxBatches: 1})
	refuse := errors.New("queue full")
	out := &sink{err: refuse}
	c := h.Wrap(Received, pipeline.SignalTraces, "otlp", out)
	if err := c.Consume(context.Background(), batch("a", 1)); !errors.Is(err, refuse) {
		t.Fatalf("error %v, want the consumer's", err)
	}
	if st := s.Stats(); st != (Stats{}) || s.held.Load() != 0 {
		t.Fatalf("a refused batch was counted or kept its room: %+v, held %d", st, s.held.Load())
	}
	out.err = nil
	if err := c.Consume(context.Background(), batch("b", 1)); err != nil {
		t.Fatal(err)
	}
	if b := <-s.C(); string(b.Body) != "b" {
		t.Fatalf("got %q", b.Body)
	}
}

func TestSelectorsAndClose(t *testing.T) {
	h := NewHub()
	traces := h.Wrap(Exported, pipeline.SignalTraces, "traces/a", &sink{})
	before := mustSubscribe(t, h, Selector{Position: Exported, Name: "traces/a"}, Options{})
	all := mustSubscribe(t, h, Selector{Position: Exported, Signal: pipeline.SignalTraces}, Options{})
	recv := mustSubscribe(t, h, Selector{Position: Received}, Options{})
	// A point added after the subscriptions (a reload adding a pipeline) is read too.
	other := h.Wrap(Exported, pipeline.SignalTraces, "traces/b", &sink{})
	ctx := context.Background()
	_ = traces.Consume(ctx, batch("a", 1))
	_ = other.Consume(ctx, batch("b", 1))
	if before.Stats().Batches != 1 || all.Stats().Batches != 2 || recv.Stats().Batches != 0 {
		t.Fatalf("name-selected %d, signal-selected %d, received %d", before.Stats().Batches, all.Stats().Batches, recv.Stats().Batches)
	}
	if _, err := h.Subscribe("bad", Selector{}, Options{}); !errors.Is(err, ErrSelector) {
		t.Fatalf("a selector without position: %v", err)
	}
	all.Close()
	all.Close()
	_ = traces.Consume(ctx, batch("c", 1))
	if all.Stats().Batches != 2 || before.Stats().Batches != 2 {
		t.Fatalf("closed %d (want 2), open %d (want 2)", all.Stats().Batches, before.Stats().Batches)
	}
	if all.held.Load() != 0 {
		t.Fatalf("a closed subscription still holds %d batches", all.held.Load())
	}
	if n := len(h.Subscriptions()); n != 2 {
		t.Fatalf("%d subscriptions listed after one closed, want 2", n)
	}
}

// Under -race: batches through a point while subscribers come, read and go.
func TestConcurrentUse(t *testing.T) {
	h := NewHub()
	out := &sink{}
	c := h.Wrap(Received, pipeline.SignalTraces, "otlp", out)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				s, err := h.Subscribe("reader", Selector{Position: Received}, Options{MaxBatches: 4})
				if err != nil {
					t.Error(err)
					return
				}
				for j := 0; j < 5; j++ {
					select {
					case b := <-s.C():
						if !bytes.Equal(b.Body, []byte("payload")) {
							t.Errorf("body %q", b.Body)
						}
						b.Release()
					case <-ctx.Done():
					default:
					}
				}
				s.Close()
			}
		}()
	}
	for i := 0; i < 2000; i++ {
		if err := c.Consume(ctx, batch("payload", 1)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
	if out.count() != 2000 {
		t.Fatalf("pipeline got %d of 2000", out.count())
	}
}

// BenchmarkPoint is the cost a point adds to a 64 KiB batch: without subscribers, with a
// subscriber that stalls (full, so every batch is skipped and counted) and with one that reads.
func BenchmarkPoint(b *testing.B) {
	body := bytes.Repeat([]byte("s"), 64<<10)
	next := pipeline.ConsumerFunc(func(context.Context, pipeline.Batch) error { return nil })
	ctx := context.Background()
	run := func(b *testing.B, c pipeline.Consumer) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			_ = c.Consume(ctx, pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: 100})
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, next) })
	b.Run("none", func(b *testing.B) { run(b, NewHub().Wrap(Received, pipeline.SignalTraces, "otlp", next)) })
	b.Run("stalled", func(b *testing.B) {
		h := NewHub()
		s, _ := h.Subscribe("stalled", Selector{Position: Received}, Options{MaxBatches: 1})
		defer s.Close()
		run(b, h.Wrap(Received, pipeline.SignalTraces, "otlp", next))
		if st := s.Stats(); st.SkippedBatches == 0 {
			b.Fatal("the stalled subscriber skipped nothing")
		}
	})
	b.Run("reading", func(b *testing.B) {
		h := NewHub()
		s, _ := h.Subscribe("reader", Selector{Position: Received}, Options{})
		defer s.Close()
		c := h.Wrap(Received, pipeline.SignalTraces, "otlp", pipeline.ConsumerFunc(func(ctx context.Context, bt pipeline.Batch) error {
			return nil
		}))
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			_ = c.Consume(ctx, pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: 100})
			(<-s.C()).Release()
		}
	})
}
