package probsampler

import (
	"context"
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

type keep struct{ traces []ptrace.Traces }

func (k *keep) Consume(_ context.Context, b pipeline.Batch) error {
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b.Body)
	k.traces = append(k.traces, td)
	return err
}

// An agent sampling at 50% and a server sampling what it forwards at 25% keep each trace
// whole or not at all, however its spans are split between requests, keep about 12.5% of
// traces, and leave the combined probability in the tracestate (ot=th:e, 1/8).
func TestChainedSamplersAgreeOnWholeTraces(t *testing.T) {
	out := &keep{}
	server, err := New(Config{SamplingPercentage: 25, SamplingPrecision: 4, AttributeSource: "traceID"}, out)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := New(Config{SamplingPercentage: 50, SamplingPrecision: 4, AttributeSource: "traceID"}, server)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const traces, spansPer = 4000, 4
	ids := make([]pcommon.TraceID, traces)
	for i := range ids {
		for j := range ids[i] {
			ids[i][j] = byte(rng.UintN(256))
		}
	}
	// Each trace's spans go out in two requests, interleaved with other traces.
	for half := range 2 {
		td := ptrace.NewTraces()
		ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		for i, id := range ids {
			for s := range spansPer / 2 {
				sp := ss.Spans().AppendEmpty()
				sp.SetTraceID(id)
				sp.SetSpanID(pcommon.SpanID{byte(i), byte(i >> 8), byte(half), byte(s), 1})
			}
		}
		body, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err := agent.Consume(context.Background(), pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: td.SpanCount()}); err != nil {
			t.Fatal(err)
		}
	}
	kept := map[pcommon.TraceID]int{}
	for _, td := range out.traces {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					kept[sp.TraceID()]++
					if ts := sp.TraceState().AsRaw(); ts != "ot=th:e" {
						t.Fatalf("tracestate %q, want ot=th:e", ts)
					}
				}
			}
		}
	}
	for id, n := range kept {
		if n != spansPer {
			t.Fatalf("trace %s split: %d of %d spans kept", id, n, spansPer)
		}
	}
	if frac := float64(len(kept)) / traces; frac < 0.10 || frac > 0.15 {
		t.Errorf("kept %.3f of traces, want about 0.125", frac)
	}
	t.Logf("kept %d of %d traces whole", len(kept), traces)
}

func TestThresholdEncoding(t *testing.T) {
	for _, c := range []struct {
		p    float64
		prec int
		want string
	}{{1, 4, "0"}, {0.5, 4, "8"}, {0.25, 4, "c"}, {0.125, 1, "e"}, {0.3, 2, "b3"}, {0.99, 2, "029"}, {0.01, 2, "fd7"},
		// Precision 14, or a probability whose leading digits push it there, rounds nothing.
		{0.3, 14, "b3333333333334"}, {1.0 / (1 << 44), 4, "fffffffffff"}} {
		th, err := probabilityThreshold(c.p, c.prec)
		if err != nil || th.hex() != c.want {
			t.Errorf("p=%v prec=%d: %q %v, want %q", c.p, c.prec, th.hex(), err, c.want)
		}
	}
	st, err := parseTraceState("vendor=a,ot=th:4;x:y;rv:0123456789abcd")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.String(); got != "ot=rv:0123456789abcd;th:4;x:y,vendor=a" {
		t.Errorf("tracestate written as %q", got)
	}
	for _, bad := range []string{"ot=th:zz", "ot=rv:12", "ot=th", "novalue"} {
		if _, err := parseTraceState(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// A span whose arriving threshold is tiny makes the proportional product tiny too: it is
// decided (not sampled here) without failing.
func TestTinyArrivingProbability(t *testing.T) {
	out := &keep{}
	p, err := New(Config{SamplingPercentage: 100, SamplingPrecision: 14, AttributeSource: "traceID"}, out)
	if err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	sp.SetSpanID(pcommon.SpanID{1})
	sp.TraceState().FromRaw("ot=rv:ffffffffffffff;th:fffffffffff")
	body, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err := p.Consume(context.Background(), pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: 1}); err != nil {
		t.Fatal(err)
	}
}

func FuzzTraceState(f *testing.F) {
	for _, s := range []string{"ot=th:8", "a=b,ot=rv:0123456789abcd;th:c;q:r", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		st, err := parseTraceState(raw)
		if err != nil {
			return
		}
		again, err := parseTraceState(st.String())
		if err != nil || again.String() != st.String() {
			t.Fatalf("%q -> %q does not read back: %v", raw, st.String(), err)
		}
	})
}

// A log record's sampling_priority attribute overrides the percentage: 0 drops it, 100 keeps it.
func TestLogPriority(t *testing.T) {
	p, err := New(Config{SamplingPercentage: 50, SamplingPrecision: 4, AttributeSource: "traceID", SamplingPriority: "prio"}, nopConsumer{})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Funcs.Logs
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i, prio := range []int64{0, 100, 0, 100} {
		lr := lrs.AppendEmpty()
		lr.SetTraceID(pcommon.TraceID{byte(i + 1), 9, 9, 9, 9, 9, 9, 9, 9, byte(i * 60), 1, 2, 3, 4, 5, 6})
		lr.Attributes().PutInt("prio", prio)
		lr.Body().SetInt(prio)
	}
	s(ld)
	if n := ld.LogRecordCount(); n != 2 {
		t.Fatalf("%d records kept, want the 2 of priority 100", n)
	}
	for _, lr := range ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().All() {
		if th, _ := lr.Attributes().Get("sampling.threshold"); lr.Body().Int() != 100 || th.Str() != "0" {
			t.Errorf("kept record %v with threshold %q, want priority 100 and threshold 0", lr.Body().AsRaw(), th.Str())
		}
	}
}

type nopConsumer struct{}

func (nopConsumer) Consume(context.Context, pipeline.Batch) error { return nil }
