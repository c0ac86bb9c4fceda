package pdataproc_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/processor/attraction"
	"github.com/otlp-dev/otlp/internal/processor/attributes"
	"github.com/otlp-dev/otlp/internal/processor/filter"
	"github.com/otlp-dev/otlp/internal/processor/pdataproc"
	"github.com/otlp-dev/otlp/internal/processor/resource"
)

// keep records the last batch it was handed.
type keep struct {
	body  []byte
	items int
	calls int
}

func (k *keep) Consume(_ context.Context, b pipeline.Batch) error {
	k.body, k.items, k.calls = append([]byte(nil), b.Body...), b.Items, k.calls+1
	return nil
}

func traces() ptrace.Traces {
	td := ptrace.NewTraces()
	for r := 0; r < 3; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		if r != 2 { // the last resource has no attributes at all
			rs.Resource().Attributes().PutStr("service.name", fmt.Sprint("svc-", r))
			rs.Resource().Attributes().PutStr("deployment.environment.name", "old")
		}
		for s := 0; s < 2; s++ {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("lib")
			for i := 0; i < 5; i++ {
				sp := ss.Spans().AppendEmpty()
				sp.SetName(fmt.Sprint("op-", i))
				sp.SetTraceID(pcommon.TraceID{1, byte(r), byte(s), byte(i)})
				sp.SetSpanID(pcommon.SpanID{2, byte(i)})
				a := sp.Attributes()
				a.PutStr("peer.service", fmt.Sprint("peer-", i))
				a.PutInt("n", int64(i))
				a.PutDouble("d", float64(i)/3)
				a.PutBool("b", i%2 == 0)
				if i%2 == 0 {
					a.PutStr("net.sock.peer.addr", "10.0.0.1")
				}
				if i == 3 {
					a.PutStr("http.route", "/healthz")
					a.PutStr("team", "kept")
				}
				if i == 4 {
					a.PutEmptyBytes("raw").FromRaw([]byte{1, 2})
				}
			}
		}
	}
	return td
}

func logs() plog.Logs {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i := 0; i < 6; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumber(1 + 4*i))
		lr.Attributes().PutStr("peer.service", fmt.Sprint("p", i))
		lr.Body().SetStr("line")
	}
	return ld
}

// run sends body through p, once on its wire path and once with the wire path cleared (pdata
// only), and returns the two outputs as JSON.
func run(t *testing.T, sig pipeline.Signal, body []byte, build func(next pipeline.Consumer) *pdataproc.Processor) (wire, pdata string, wireUsed bool) {
	t.Helper()
	out := func(clear bool) (string, bool) {
		k := &keep{}
		p := build(k)
		used := p.Wire.Traces != nil || p.Wire.Logs != nil || p.Wire.Metrics != nil
		if clear {
			p.Wire = pdataproc.WireFuncs{}
		}
		if err := p.Consume(context.Background(), pipeline.Batch{Signal: sig, Body: body, Items: 30}); err != nil {
			t.Fatal(err)
		}
		if k.calls == 0 {
			return "(nothing)", used
		}
		var js []byte
		var err error
		switch sig {
		case pipeline.SignalTraces:
			td, e := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(k.body)
			if e != nil {
				t.Fatal(e)
			}
			if td.SpanCount() != k.items {
				t.Fatalf("batch says %d items, holds %d", k.items, td.SpanCount())
			}
			js, err = (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		case pipeline.SignalLogs:
			ld, e := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(k.body)
			if e != nil {
				t.Fatal(e)
			}
			js, err = (&plog.JSONMarshaler{}).MarshalLogs(ld)
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(js), used
	}
	wire, wireUsed = out(false)
	pdata, _ = out(true)
	return wire, pdata, wireUsed
}

// The wire paths of resource, attributes and filter give what their pdata paths give.
func TestWirePathsMatchPdata(t *testing.T) {
	tb, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(traces())
	if err != nil {
		t.Fatal(err)
	}
	lb, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs())
	if err != nil {
		t.Fatal(err)
	}
	acts := func(a ...attraction.Action) []attraction.Action { return a }
	cases := []struct {
		name  string
		sig   pipeline.Signal
		body  []byte
		wire  bool
		build func(next pipeline.Consumer) (*pdataproc.Processor, error)
	}{
		{"resource", pipeline.SignalTraces, tb, true, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return resource.New(resource.Config{Attributes: acts(
				attraction.Action{Key: "deployment.environment.name", Value: "bench", Action: "upsert"},
				attraction.Action{Key: "region", Value: int64(3), Action: "insert"},
				attraction.Action{Key: "service.name", Action: "hash"},
				attraction.Action{Key: "gone", Action: "delete"})}, n)
		}},
		{"attributes", pipeline.SignalTraces, tb, true, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return attributes.New(attributes.Config{Actions: acts(
				attraction.Action{Key: "team", Value: "platform", Action: "insert"},
				attraction.Action{Key: "peer.service", Action: "hash"},
				attraction.Action{Key: "net.sock.peer.addr", Action: "delete"},
				attraction.Action{Key: "copy", FromAttribute: "n", Action: "upsert"},
				attraction.Action{Key: "d", Value: true, Action: "update"},
				attraction.Action{Pattern: "^(b|raw)$", Action: "hash"},
				attraction.Action{Key: "n", Value: 1.5, Action: "update"})}, pipeline.SignalTraces, n)
		}},
		{"attributes pattern delete", pipeline.SignalTraces, tb, true, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return attributes.New(attributes.Config{Actions: acts(attraction.Action{Pattern: "^net\\.", Action: "delete"})}, pipeline.SignalTraces, n)
		}},
		{"attributes logs", pipeline.SignalLogs, lb, true, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return attributes.New(attributes.Config{Actions: acts(attraction.Action{Key: "peer.service", Action: "hash"})}, pipeline.SignalLogs, n)
		}},
		{"attributes extract needs pdata", pipeline.SignalTraces, tb, false, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return attributes.New(attributes.Config{Actions: acts(attraction.Action{Key: "peer.service", Pattern: "^(?P<kind>[a-z]+)-", Action: "extract"})}, pipeline.SignalTraces, n)
		}},
		{"filter", pipeline.SignalTraces, tb, true, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return filter.New(filter.Config{Traces: filter.Traces{Span: []string{`attributes["http.route"] == "/healthz"`, `resource.attributes["service.name"] == "svc-1" and name == "op-0"`}}}, n)
		}},
		{"filter keeps all", pipeline.SignalTraces, tb, true, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return filter.New(filter.Config{Traces: filter.Traces{Span: []string{`name == "none"`}}}, n)
		}},
		{"filter drops all", pipeline.SignalTraces, tb, true, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return filter.New(filter.Config{Traces: filter.Traces{Span: []string{`instrumentation_scope.name == "lib"`}}}, n)
		}},
		{"filter bytes", pipeline.SignalTraces, tb, true, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return filter.New(filter.Config{Traces: filter.Traces{Span: []string{`attributes["raw"] == "AQI="`}}}, n)
		}},
		{"filter logs", pipeline.SignalLogs, lb, true, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return filter.New(filter.Config{Logs: filter.Logs{LogRecord: []string{`severity_number >= 13`}}}, n)
		}},
		{"filter logs body needs pdata", pipeline.SignalLogs, lb, false, func(n pipeline.Consumer) (*pdataproc.Processor, error) {
			return filter.New(filter.Config{Logs: filter.Logs{LogRecord: []string{`body == "line"`}}}, n)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wire, pdata, used := run(t, c.sig, c.body, func(n pipeline.Consumer) *pdataproc.Processor {
				p, err := c.build(n)
				if err != nil {
					t.Fatal(err)
				}
				return p
			})
			if used != c.wire {
				t.Fatalf("wire path chosen: %v, want %v", used, c.wire)
			}
			if wire != pdata {
				t.Fatalf("wire and pdata paths differ\nwire:  %s\npdata: %s", wire, pdata)
			}
		})
	}
}

// A map value read by a wire condition sends the request to pdata, which knows its type: a map
// is not nil, so the span stays (the view alone would have read nil and dropped it).
func TestWireFilterFallsBackOnMaps(t *testing.T) {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{1})
	sp.Attributes().PutEmptyMap("m").PutStr("a", "b")
	body, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	k := &keep{}
	p, err := filter.New(filter.Config{Traces: filter.Traces{Span: []string{`attributes["m"] == nil`}}}, k)
	if err != nil {
		t.Fatal(err)
	}
	if p.Wire.Traces == nil {
		t.Fatal("no wire path")
	}
	if err := p.Consume(context.Background(), pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: 1}); err != nil {
		t.Fatal(err)
	}
	if k.calls != 1 || k.items != 1 {
		t.Fatal("the span with a map attribute was dropped as if the attribute were nil")
	}
}

// BenchmarkChain is the processors bench shape's chain (resource upsert, three attribute
// actions, a filter) on 512 spans with ten attributes each, on the wire and on pdata.
func BenchmarkChain(b *testing.B) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bench")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := 0; i < 512; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("op")
		sp.SetTraceID(pcommon.TraceID{1, byte(i), byte(i >> 8)})
		sp.SetSpanID(pcommon.SpanID{2, byte(i)})
		for a := 0; a < 8; a++ {
			sp.Attributes().PutStr(fmt.Sprint("attr.", a), "value-value")
		}
		sp.Attributes().PutStr("peer.service", "db")
		sp.Attributes().PutStr("http.route", "/api")
	}
	body, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	chain := func(wire bool) pipeline.Consumer {
		var next pipeline.Consumer = pipeline.ConsumerFunc(func(context.Context, pipeline.Batch) error { return nil })
		f, _ := filter.New(filter.Config{Traces: filter.Traces{Span: []string{`attributes["http.route"] == "/healthz"`}}}, next)
		a, _ := attributes.New(attributes.Config{Actions: []attraction.Action{
			{Key: "team", Value: "platform", Action: "insert"}, {Key: "peer.service", Action: "hash"},
			{Key: "net.sock.peer.addr", Action: "delete"}}}, pipeline.SignalTraces, f)
		r, _ := resource.New(resource.Config{Attributes: []attraction.Action{{Key: "deployment.environment.name", Value: "bench", Action: "upsert"}}}, a)
		if !wire {
			f.Wire, a.Wire, r.Wire = pdataproc.WireFuncs{}, pdataproc.WireFuncs{}, pdataproc.WireFuncs{}
		}
		return r
	}
	for _, wire := range []bool{true, false} {
		name := "pdata"
		if wire {
			name = "wire"
		}
		b.Run(name, func(b *testing.B) {
			c := chain(wire)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Consume(context.Background(), pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: 512}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
