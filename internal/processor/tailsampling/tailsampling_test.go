package tailsampling

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

type sink struct {
	mu    sync.Mutex
	spans []int32 // by trace number (see tid), sized up front so counting does not allocate
}

func (s *sink) Consume(_ context.Context, b pipeline.Batch) error {
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b.Body)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spans == nil {
		s.spans = make([]int32, 1<<16)
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				s.spans[traceNumber(sp.TraceID())]++
			}
		}
	}
	return nil
}

func (s *sink) count(id pcommon.TraceID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spans == nil {
		return 0
	}
	return int(s.spans[traceNumber(id)])
}

func traceNumber(id pcommon.TraceID) int { return int(id[2])<<8 | int(id[3]) }

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func tid(n int) pcommon.TraceID {
	return pcommon.TraceID{0xab, byte(n >> 16), byte(n >> 8), byte(n), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, byte(n)}
}

// batch makes spans of the given traces; mark decorates each span.
func batch(traces []int, spansEach int, mark func(n, i int, sp ptrace.Span)) pipeline.Batch {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for _, n := range traces {
		for i := range spansEach {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(tid(n))
			sp.SetSpanID(pcommon.SpanID{byte(n), byte(n >> 8), byte(i), 1})
			sp.SetStartTimestamp(1_000_000_000)
			sp.SetEndTimestamp(1_010_000_000)
			if mark != nil {
				mark(n, i, sp)
			}
		}
	}
	body, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	return pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: td.SpanCount()}
}

func newTest(t *testing.T, cfg Config) (*Processor, *sink, *clock, chan time.Time) {
	t.Helper()
	out := &sink{}
	clk := &clock{t: time.Unix(1000, 0)}
	tick := make(chan time.Time)
	p, err := New(cfg, Settings{Tick: tick, Now: clk.now}, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p, out, clk, tick
}

func policies() []PolicyConfig {
	return []PolicyConfig{
		{Name: "errors", Type: "status_code", StatusCode: &StatusCode{StatusCodes: []string{"ERROR"}}},
		{Name: "slow", Type: "latency", Latency: &Latency{ThresholdMs: 500}},
	}
}

// Decisions wait for decision_wait after a trace's first span, keep or drop all of a trace,
// and spans arriving after the decision follow it.
func TestDecisionWaitAndLateSpans(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.DecisionWait = 5 * time.Second
	cfg.Policies = policies()
	p, out, clk, tick := newTest(t, cfg)
	ctx := context.Background()
	// trace 1 has an error in its second part, trace 2 is slow, trace 3 is neither.
	if err := p.Consume(ctx, batch([]int{1, 2, 3}, 2, nil)); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(2 * time.Second)
	if err := p.Consume(ctx, batch([]int{1, 2, 3}, 1, func(n, _ int, sp ptrace.Span) {
		switch n {
		case 1:
			sp.Status().SetCode(ptrace.StatusCodeError)
		case 2:
			sp.SetEndTimestamp(sp.StartTimestamp() + 600_000_000)
		}
	})); err != nil {
		t.Fatal(err)
	}
	tick <- clk.t // 2s: nothing is due yet
	tick <- clk.t // (a second tick waits for the first to be handled)
	if st := p.Stats(); st.Sampled+st.NotSampled != 0 || st.HeldTraces != 3 {
		t.Fatalf("decided before decision_wait: %+v", st)
	}
	clk.t = clk.t.Add(3 * time.Second)
	tick <- clk.t
	tick <- clk.t
	if st := p.Stats(); st.Sampled != 2 || st.NotSampled != 1 || st.HeldTraces != 0 {
		t.Fatalf("after decision_wait: %+v", st)
	}
	if out.count(tid(1)) != 3 || out.count(tid(2)) != 3 || out.count(tid(3)) != 0 {
		t.Fatalf("kept spans: %d %d %d, want 3 3 0", out.count(tid(1)), out.count(tid(2)), out.count(tid(3)))
	}
	// Late spans follow the decision of their trace.
	if err := p.Consume(ctx, batch([]int{1, 3}, 2, nil)); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); out.count(tid(1)) != 5 || out.count(tid(3)) != 0 || st.LateSampled != 2 || st.LateDropped != 2 {
		t.Fatalf("late spans: kept %d / %d, stats %+v", out.count(tid(1)), out.count(tid(3)), st)
	}
}

// Under ten times the traces its budget holds, the sampler stays within max_bytes by deciding
// the oldest traces early: every trace is decided once, none is split between kept and dropped,
// and the heap does not grow with the number of traces.
func TestMemoryBoundUnderOverload(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.DecisionWait = time.Hour // only the budget makes decisions
	cfg.Policies = []PolicyConfig{{Name: "half", Type: "probabilistic", Probabilistic: &Probabilistic{SamplingPercentage: 50}}}
	const spansEach, perBatch = 8, 50
	probe := batch([]int{0}, spansEach, nil)
	traceBytes := int64(len(probe.Body))
	const budgetTraces = 500
	cfg.MaxBytes = budgetTraces * traceBytes
	// Remembered decisions are bounded by count; kept small here so that the heap measures
	// the held spans.
	cfg.DecisionCache = DecisionCache{SampledCacheSize: 2000, NonSampledCacheSize: 2000}
	ctx := context.Background()
	p, out, _, _ := newTest(t, cfg)
	_ = out.Consume(ctx, batch(nil, 0, nil)) // sizes the sink's counters before measuring
	var ms runtime.MemStats
	heapAt := func() uint64 { runtime.GC(); runtime.ReadMemStats(&ms); return ms.HeapAlloc }
	const total = 10 * budgetTraces * 2 // ten times what fits, twice over
	// The last 30 batches' second halves come after the loop.
	var heapMid uint64
	for first := 0; first < total; first += perBatch {
		ids := make([]int, perBatch)
		for i := range ids {
			ids[i] = first + i
		}
		// Each trace arrives in two halves, the second 30 batches later: by then the budget
		// has forced a decision on many first halves, so second halves arrive late.
		if err := p.Consume(ctx, batch(ids, spansEach/2, nil)); err != nil {
			t.Fatal(err)
		}
		if lag := 30 * perBatch; first >= lag {
			prev := make([]int, perBatch)
			for i := range prev {
				prev[i] = first - lag + i
			}
			if err := p.Consume(ctx, batch(prev, spansEach/2, nil)); err != nil {
				t.Fatal(err)
			}
		}
		if st := p.Stats(); st.HeldBytes > cfg.MaxBytes {
			t.Fatalf("held %d bytes over the budget of %d", st.HeldBytes, cfg.MaxBytes)
		}
		if first == total/2 {
			heapMid = heapAt()
		}
	}
	heapEnd := heapAt()
	for first := total - 30*perBatch; first < total; first += perBatch {
		ids := make([]int, perBatch)
		for i := range ids {
			ids[i] = first + i
		}
		if err := p.Consume(ctx, batch(ids, spansEach/2, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Sampled+st.NotSampled != total {
		t.Fatalf("%d traces decided, want %d: %+v", st.Sampled+st.NotSampled, total, st)
	}
	if st.Early == 0 || st.PeakBytes > cfg.MaxBytes || st.LateSampled == 0 || st.LateDropped == 0 {
		t.Fatalf("the budget was not what bounded memory: %+v", st)
	}
	kept := 0
	for n := range total {
		switch c := out.count(tid(n)); c {
		case 0:
		case spansEach:
			kept++
		default:
			t.Fatalf("trace %d split: %d of %d spans kept", n, c, spansEach)
		}
	}
	if kept == 0 || kept == total {
		t.Fatalf("kept %d of %d traces", kept, total)
	}
	// The held set is bounded, so the heap after twice as many traces is about the same.
	t.Logf("heap at half the traces %d, at all %d", heapMid, heapEnd)
	if heapEnd > heapMid+uint64(4*cfg.MaxBytes) {
		t.Errorf("heap grew from %d to %d bytes between half and all the traces", heapMid, heapEnd)
	}
	t.Logf("%d traces, %d kept whole, %d decided early; peak %d of %d bytes; decided: %d sampled, %d not", total, kept, st.Early, st.PeakBytes, cfg.MaxBytes, st.Sampled, st.NotSampled)
}

func TestPolicyConfigErrors(t *testing.T) {
	for _, c := range []struct {
		p    PolicyConfig
		want string
	}{
		{PolicyConfig{Name: "x", Type: "composite"}, `type "composite" is not supported`},
		{PolicyConfig{Name: "x", Type: "latency"}, `type "latency" needs its table`},
		{PolicyConfig{Name: "x", Type: "status_code", StatusCode: &StatusCode{StatusCodes: []string{"BAD"}}}, `"BAD" is not one of OK, ERROR, UNSET`},
		{PolicyConfig{Name: "x", Type: "and", And: &And{SubPolicies: []PolicyConfig{{Name: "y", Type: "and", And: &And{}}}}}, `cannot hold another "and"`},
		{PolicyConfig{Type: "always_sample"}, "name: required"},
	} {
		cfg := NewDefaultConfig()
		cfg.Policies = []PolicyConfig{c.p}
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.p, err, c.want)
		}
	}
}

// rate_limiting keeps whole traces while the spans kept in the current second stay within the
// limit, and starts over each second.
func TestRateLimiting(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.DecisionWait = time.Second
	cfg.Policies = []PolicyConfig{{Name: "rl", Type: "rate_limiting", RateLimiting: &RateLimiting{SpansPerSecond: 10}}}
	p, out, clk, tick := newTest(t, cfg)
	ctx := context.Background()
	decideAt := func(traces []int) {
		t.Helper()
		if err := p.Consume(ctx, batch(traces, 4, nil)); err != nil {
			t.Fatal(err)
		}
		clk.t = clk.t.Add(time.Second)
		tick <- clk.t
		tick <- clk.t
	}
	decideAt([]int{1, 2, 3, 4})
	decideAt([]int{5, 6, 7})
	var kept []int
	for n := 1; n <= 7; n++ {
		switch out.count(tid(n)) {
		case 4:
			kept = append(kept, n)
		case 0:
		default:
			t.Fatalf("trace %d split", n)
		}
	}
	if fmt.Sprint(kept) != "[1 2 5 6]" {
		t.Fatalf("kept %v, want [1 2 5 6] (two traces of 4 spans per second under 10 spans/s)", kept)
	}
}

type refusing struct {
	sink
	mu      sync.Mutex
	refuse  int // calls still to refuse
	refused int
}

func (r *refusing) Consume(ctx context.Context, b pipeline.Batch) error {
	r.mu.Lock()
	if r.refuse > 0 {
		r.refuse--
		r.refused++
		r.mu.Unlock()
		return errors.New("queue full") // retryable
	}
	r.mu.Unlock()
	return r.sink.Consume(ctx, b)
}

// A decision the loop is passing on when Shutdown begins is delivered (the stages behind were
// refusing for a while), not cut off: Shutdown's own deadline is what bounds it.
func TestShutdownFinishesADecisionInFlight(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.DecisionWait = time.Second
	cfg.Policies = []PolicyConfig{{Name: "all", Type: "always_sample"}}
	out := &refusing{refuse: 3}
	clk := &clock{t: time.Unix(1000, 0)}
	tick := make(chan time.Time)
	p, err := New(cfg, Settings{Tick: tick, Now: clk.now}, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Consume(context.Background(), batch([]int{1}, 4, nil)); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(2 * time.Second)
	tick <- clk.t // the loop now decides trace 1 and retries against the refusals
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got, st := out.count(tid(1)), p.Stats(); got != 4 || st.Lost != 0 || out.refused != 3 {
		t.Fatalf("delivered %d of 4 spans after %d refusals, lost %d", got, out.refused, st.Lost)
	}
}
