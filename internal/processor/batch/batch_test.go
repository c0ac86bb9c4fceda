package batch

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// request encodes n spans whose span ids are first..first+n-1.
func request(t testing.TB, first, n int) pipeline.Batch {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("scope")
	for i := first; i < first+n; i++ {
		s := ss.Spans().AppendEmpty()
		var tid [16]byte
		var sid [8]byte
		binary.BigEndian.PutUint64(tid[8:], uint64(i+1))
		binary.BigEndian.PutUint64(sid[:], uint64(i+1))
		s.SetTraceID(pcommon.TraceID(tid))
		s.SetSpanID(pcommon.SpanID(sid))
		s.SetName("op")
		s.Attributes().PutInt("i", int64(i))
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: n}
}

// sink decodes every batch it gets and records span ids.
type sink struct {
	mu      sync.Mutex
	batches []int
	ids     map[uint64]int
	got     chan struct{}
	block   chan struct{} // when non-nil, Consume waits on it
	fail    error
}

func newSink() *sink { return &sink{ids: map[uint64]int{}, got: make(chan struct{}, 1000)} }

func (s *sink) Consume(ctx context.Context, b pipeline.Batch) error {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.fail != nil {
		return s.fail
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(b.Body); err != nil {
		return resilience.Permanent(err)
	}
	td := req.Traces()
	if td.SpanCount() != b.Items {
		return resilience.Permanent(errors.New("item count mismatch"))
	}
	s.mu.Lock()
	s.batches = append(s.batches, b.Items)
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		sp := td.ResourceSpans().At(i).ScopeSpans().At(0).Spans()
		for j := 0; j < sp.Len(); j++ {
			id := sp.At(j).SpanID()
			s.ids[binary.BigEndian.Uint64(id[:])]++
		}
	}
	s.mu.Unlock()
	s.got <- struct{}{}
	return nil
}

func (s *sink) snapshot() ([]int, map[uint64]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make(map[uint64]int, len(s.ids))
	for k, v := range s.ids {
		ids[k] = v
	}
	return append([]int(nil), s.batches...), ids
}

func newProc(t *testing.T, cfg Config, next pipeline.Consumer) *Processor {
	t.Helper()
	p, err := New(cfg, Settings{Name: "traces", Signal: pipeline.SignalTraces}, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkAll(t *testing.T, ids map[uint64]int, n int) {
	t.Helper()
	if len(ids) != n {
		t.Fatalf("got %d distinct spans, want %d", len(ids), n)
	}
	for i := 1; i <= n; i++ {
		if ids[uint64(i)] != 1 {
			t.Fatalf("span %d delivered %d times", i, ids[uint64(i)])
		}
	}
}

func TestSizeTriggerConcatenates(t *testing.T) {
	s := newSink()
	cfg := NewDefaultConfig()
	cfg.SendBatchSize, cfg.Timeout = 250, time.Hour
	p := newProc(t, cfg, s)
	for i := 0; i < 3; i++ {
		if err := p.Consume(context.Background(), request(t, i*100, 100)); err != nil {
			t.Fatal(err)
		}
	}
	<-s.got
	batches, ids := s.snapshot()
	if len(batches) != 1 || batches[0] != 300 {
		t.Fatalf("batches %v, want one of 300", batches)
	}
	checkAll(t, ids, 300)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTimeoutTrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink()
		cfg := NewDefaultConfig()
		cfg.Timeout = 200 * time.Millisecond
		p := newProc(t, cfg, s)
		if err := p.Consume(context.Background(), request(t, 0, 10)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(199 * time.Millisecond)
		synctest.Wait()
		if b, _ := s.snapshot(); len(b) != 0 {
			t.Fatalf("sent before the timeout: %v", b)
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if b, ids := s.snapshot(); len(b) != 1 {
			t.Fatalf("not sent after the timeout: %v", b)
		} else {
			checkAll(t, ids, 10)
		}
		p.Shutdown(context.Background())
	})
}

func TestShutdownFlushesEverything(t *testing.T) {
	s := newSink()
	cfg := NewDefaultConfig()
	cfg.SendBatchSize, cfg.Timeout = 1000, time.Hour
	p := newProc(t, cfg, s)
	for i := 0; i < 25; i++ {
		if err := p.Consume(context.Background(), request(t, i*100, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, ids := s.snapshot()
	checkAll(t, ids, 2500)
	if err := p.Consume(context.Background(), request(t, 0, 1)); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("after shutdown: %v", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal("second shutdown:", err)
	}
}

func TestBackpressureHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink()
		s.block = make(chan struct{})
		cfg := NewDefaultConfig()
		cfg.SendBatchSize, cfg.MaxPending = 10, 1
		p := newProc(t, cfg, s)
		// One batch is being sent (blocked), one waits: the next full batch cannot be formed.
		for i := 0; i < 2; i++ {
			if err := p.Consume(context.Background(), request(t, i*10, 10)); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := p.Consume(ctx, request(t, 20, 10))
		if _, ok := resilience.RetryAfter(err); !ok {
			t.Fatalf("want a throttled refusal, got %v", err)
		}
		close(s.block)
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, ids := s.snapshot()
		checkAll(t, ids, 20) // the refused request was never accepted
	})
}

func TestSplitsOversizeRequests(t *testing.T) {
	s := newSink()
	cfg := NewDefaultConfig()
	cfg.SendBatchSize, cfg.SendBatchMaxSize, cfg.Timeout = 100, 100, time.Hour
	p := newProc(t, cfg, s)
	if err := p.Consume(context.Background(), request(t, 0, 950)); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	batches, ids := s.snapshot()
	for _, n := range batches {
		if n > 100 {
			t.Fatalf("batch of %d over send_batch_max_size 100: %v", n, batches)
		}
	}
	checkAll(t, ids, 950)
}

func TestShutdownDeadlineCountsUndelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink()
		s.fail = errors.New("upstream down")
		cfg := NewDefaultConfig()
		cfg.SendBatchSize = 10
		p := newProc(t, cfg, s)
		if err := p.Consume(context.Background(), request(t, 0, 10)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := p.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 2*time.Second || d > 3*time.Second {
			t.Fatalf("shutdown took %s, want the 2s deadline", d)
		}
	})
}

func BenchmarkConsume512(b *testing.B) {
	next := pipeline.ConsumerFunc(func(context.Context, pipeline.Batch) error { return nil })
	cfg := NewDefaultConfig()
	p, _ := New(cfg, Settings{Name: "bench", Signal: pipeline.SignalTraces}, next)
	p.Start(context.Background())
	defer p.Shutdown(context.Background())
	req := request(b, 0, 512)
	b.SetBytes(int64(len(req.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Consume(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAckAfterFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink()
		on := true
		cfg := NewDefaultConfig()
		cfg.AckAfterFlush = &on
		cfg.Timeout = 200 * time.Millisecond
		p := newProc(t, cfg, s)
		start := time.Now()
		errc := make(chan error, 2)
		for i := 0; i < 2; i++ {
			go func() { errc <- p.Consume(context.Background(), request(t, i*10, 10)) }()
		}
		for i := 0; i < 2; i++ {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		// Both requests were acknowledged only once their batch was delivered, at the timeout.
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("acknowledged after %s, before the batch was sent", d)
		}
		_, ids := s.snapshot()
		checkAll(t, ids, 20)

		// A refusal reaches the senders instead of being counted as dropped.
		s.fail = resilience.Permanent(errors.New("bad batch"))
		err := p.Consume(context.Background(), request(t, 20, 10))
		if !resilience.IsPermanent(err) {
			t.Fatalf("want the exporters' permanent error, got %v", err)
		}
		p.Shutdown(context.Background())
	})
}

// taker keeps every batch it is offered, as an exporter's memory queue does.
type taker struct {
	mu     sync.Mutex
	kept   []pipeline.Batch
	copies [][]byte
}

func (k *taker) Consume(_ context.Context, b pipeline.Batch) error {
	if !b.Owner.Take(b.Body) {
		return resilience.Permanent(errors.New("batch offered without an Owner"))
	}
	k.mu.Lock()
	k.kept = append(k.kept, b)
	k.copies = append(k.copies, bytes.Clone(b.Body))
	k.mu.Unlock()
	return nil
}

func TestTakenBuffersAreNotReusedUntilReleased(t *testing.T) {
	k := &taker{}
	cfg := NewDefaultConfig()
	cfg.SendBatchSize, cfg.Timeout = 100, time.Hour
	p := newProc(t, cfg, k)
	send := func(first int) {
		for i := 0; i < 4; i++ {
			if err := p.Consume(t.Context(), request(t, first+i*50, 50)); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0) // two batches, both taken and held
	send(200)
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.kept) != 4 {
		t.Fatalf("kept %d batches, want 4", len(k.kept))
	}
	for i, b := range k.kept {
		if !bytes.Equal(b.Body, k.copies[i]) {
			t.Fatalf("batch %d changed while its taker held it: the processor reused a taken buffer", i)
		}
	}
	// Released buffers become the processor's spares again.
	for _, b := range k.kept {
		b.Owner.Release(b.Body)
	}
	if p.spare.Len() == 0 {
		t.Fatal("released buffers were not recycled")
	}
}

func TestBatchBufferIsSizedOnce(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	rec := pipeline.ConsumerFunc(func(_ context.Context, b pipeline.Batch) error {
		mu.Lock()
		bodies = append(bodies, b.Body)
		mu.Unlock()
		return nil
	})
	cfg := NewDefaultConfig()
	cfg.SendBatchSize, cfg.Timeout = 100, time.Hour
	p := newProc(t, cfg, rec)
	first := request(t, 0, 25)
	if err := p.Consume(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	start, capacity := &p.cur[0], cap(p.cur)
	p.mu.Unlock()
	if capacity < 4*len(first.Body) {
		t.Fatalf("first buffer holds %d bytes, want room for send_batch_size items (4 requests of %d)", capacity, len(first.Body))
	}
	for i := 1; i < 4; i++ {
		if err := p.Consume(t.Context(), request(t, i*25, 25)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || &bodies[0][0] != start {
		t.Fatalf("got %d batches; the batch was reallocated while filling: want one buffer sized once", len(bodies))
	}
}

// With a consumer that is done with a batch as soon as Consume returns (nop, or a queue that
// copies), one buffer circulates: the goroutine that fills a batch yields to the flusher, which
// hands the batch on and recycles the buffer before that goroutine takes the next request.
// A late flusher used to make the next request allocate a second batch buffer (a megabyte at
// the defaults), which then stayed in circulation for good. GOMAXPROCS 1 makes the order
// deterministic: without the yield the flusher cannot run before the next Consume.
func TestOneBufferCirculatesWithAFastConsumer(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var mu sync.Mutex
	buffers := map[*byte]bool{}
	batches := 0
	rec := pipeline.ConsumerFunc(func(_ context.Context, b pipeline.Batch) error {
		mu.Lock()
		buffers[unsafe.SliceData(b.Body)] = true
		batches++
		mu.Unlock()
		return nil
	})
	cfg := NewDefaultConfig()
	cfg.SendBatchSize, cfg.Timeout = 100, time.Hour
	p := newProc(t, cfg, rec)
	reqs := make([]pipeline.Batch, 40)
	for i := range reqs {
		reqs[i] = request(t, i*25, 25)
	}
	for _, r := range reqs {
		if err := p.Consume(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if batches != 10 || len(buffers) != 1 {
		t.Fatalf("%d batches in %d distinct buffers, want 10 batches in one", batches, len(buffers))
	}
}
