package pdataproc

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

type last struct{ batches []pipeline.Batch }

func (l *last) Consume(_ context.Context, b pipeline.Batch) error {
	l.batches = append(l.batches, b)
	return nil
}

// A chain of pdata stages decodes once: the second stage is handed the very batch the first
// changed, and only the end of the chain encodes.
func TestChainDecodesOnce(t *testing.T) {
	out := &last{}
	var seen []ptrace.Traces
	second := &Processor{Name: "b", Next: out, Funcs: Funcs{Traces: func(td ptrace.Traces) {
		seen = append(seen, td)
		td.ResourceSpans().At(0).Resource().Attributes().PutStr("b", "2")
	}}}
	first := &Processor{Name: "a", Next: second, Funcs: Funcs{Traces: func(td ptrace.Traces) {
		seen = append(seen, td)
		td.ResourceSpans().At(0).Resource().Attributes().PutStr("a", "1")
	}}}
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("x")
	body, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err := first.Consume(context.Background(), pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: 1}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != seen[1] {
		t.Fatal("the second stage got a batch decoded again")
	}
	if len(out.batches) != 1 || out.batches[0].Items != 1 {
		t.Fatalf("end of chain got %+v", out.batches)
	}
	got, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(out.batches[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	attrs := got.ResourceSpans().At(0).Resource().Attributes()
	if a, _ := attrs.Get("a"); a.Str() != "1" {
		t.Error("first stage's change lost")
	}
	if b, _ := attrs.Get("b"); b.Str() != "2" {
		t.Error("second stage's change lost")
	}
	// A stage that does not handle the signal passes the encoded batch on untouched.
	logsOnly := &Processor{Name: "c", Next: out, Funcs: Funcs{}}
	b := pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: 1}
	if err := logsOnly.Consume(context.Background(), b); err != nil || &out.batches[1].Body[0] != &body[0] {
		t.Fatalf("pass-through re-encoded the batch (%v)", err)
	}
}
