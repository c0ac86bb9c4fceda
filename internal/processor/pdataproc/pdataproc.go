// Package pdataproc runs a processor that changes data on the pdata model: it decodes a batch,
// lets the processor change it, and encodes what is left for the next stage. Consecutive
// pdataproc stages hand the decoded batch on without encoding it in between, so a chain of
// them decodes and encodes once.
package pdataproc

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/otlpwire"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/resilience"
)

// Funcs change one decoded batch in place; nil leaves that signal as it is.
type Funcs struct {
	Traces  func(ptrace.Traces)
	Metrics func(pmetric.Metrics)
	Logs    func(plog.Logs)
}

// Processor applies Funcs to every batch and hands the result to Next. A batch left with no
// items is not passed on.
type Processor struct {
	Name  string // the processor's type, for errors
	Funcs Funcs
	Next  pipeline.Consumer
	// Wire, where set for a signal, rewrites its requests on the wire (otlpwire.Edit) instead
	// of decoding them; Funcs still serve a request a pdata stage in front hands on decoded,
	// and one the wire path gives up on (Scratch.Unsupported).
	Wire WireFuncs

	pool sync.Pool // *Scratch
}

// WireFuncs return the edits of one request of each signal; nil: that signal uses Funcs.
type WireFuncs struct {
	Traces, Metrics, Logs func(sc *Scratch) otlpwire.Edits
}

// Scratch is what one wire rewrite works in, reused across requests.
type Scratch struct {
	// Attrs is the attribute list an edit loads, changes and writes back.
	Attrs otlpwire.AttrList
	// Unsupported, set by an edit, sends the request to the pdata path instead.
	Unsupported bool
	edit        otlpwire.EditScratch
	out         []byte
	tmp, tmpRes [2][]byte // ping-pong buffers of a run of stages composed into one edit
}

func (p *Processor) wire(sig pipeline.Signal) func(*Scratch) otlpwire.Edits {
	switch sig {
	case pipeline.SignalTraces:
		return p.Wire.Traces
	case pipeline.SignalMetrics:
		return p.Wire.Metrics
	case pipeline.SignalLogs:
		return p.Wire.Logs
	}
	return nil
}

// consumeWire rewrites b on the wire; done false when the request needs the pdata path.
func (p *Processor) consumeWire(ctx context.Context, b pipeline.Batch, edits func(*Scratch) otlpwire.Edits) (done bool, err error) {
	sc, _ := p.pool.Get().(*Scratch)
	if sc == nil {
		sc = &Scratch{}
	}
	defer p.pool.Put(sc)
	sc.Unsupported = false
	ed, next := p.compose(b.Signal, sc, edits)
	out, dropped, err := otlpwire.Edit(b.Signal, b.Body, sc.out[:0], ed, &sc.edit)
	if err != nil {
		return true, resilience.Permanent(fmt.Errorf("%s: %w", p.Name, err))
	}
	if sc.Unsupported {
		return false, nil
	}
	if ed.Resource == nil && ed.Item == nil && len(out) == 0 && dropped == 0 {
		return true, next.Consume(ctx, b) // nothing dropped: the request as it came
	}
	sc.out = out
	items := b.Items - dropped
	if items <= 0 {
		return true, nil
	}
	// Next may keep Body only by copying it (Owner is nil): sc.out is ours again after.
	return true, next.Consume(ctx, pipeline.Batch{Signal: b.Signal, Body: out, Items: items})
}

// compose makes one edit of p and the wire stages right behind it, so that a chain of
// rewriting stages parses and copies the request once; it returns the edit and the consumer
// after the last stage it took. If a stage gives up (Unsupported), the request goes through
// p's pdata path, which hands its decode on through the same stages.
func (p *Processor) compose(sig pipeline.Signal, sc *Scratch, first func(*Scratch) otlpwire.Edits) (otlpwire.Edits, pipeline.Consumer) {
	stages := []otlpwire.Edits{first(sc)}
	next := p.Next
	for {
		q, ok := next.(*Processor)
		if !ok {
			break
		}
		e := q.wire(sig)
		if e == nil {
			break
		}
		stages = append(stages, e(sc))
		next = q.Next
	}
	if len(stages) == 1 {
		return stages[0], next
	}
	var out otlpwire.Edits
	hasItem := false
	for _, st := range stages {
		out.DropEmpty = out.DropEmpty || st.DropEmpty
		hasItem = hasItem || st.Item != nil
		if st.Resource != nil {
			out.Resource = func(dst, old []byte) []byte {
				cur := old
				for i, st := range stages {
					if st.Resource == nil {
						continue
					}
					sc.tmpRes[i%2] = st.Resource(sc.tmpRes[i%2][:0], cur)
					cur = sc.tmpRes[i%2]
				}
				return append(dst, cur...)
			}
		}
	}
	// Resource edits all run first: an item stage sees the resource every resource stage
	// rewrote, also one that comes after it in the pipeline (resource and item stages touch
	// different messages, so only conditions on the resource could tell).
	if !hasItem {
		out.Keep = func(item, res, scope []byte) bool {
			for _, st := range stages {
				if st.Keep != nil && !st.Keep(item, res, scope) {
					return false
				}
			}
			return true
		}
		return out, next
	}
	out.Item = func(dst, item, res, scope []byte) ([]byte, bool) {
		cur := item
		for i, st := range stages {
			switch {
			case st.Item != nil:
				var keep bool
				sc.tmp[i%2], keep = st.Item(sc.tmp[i%2][:0], cur, res, scope)
				if !keep {
					return dst, false
				}
				cur = sc.tmp[i%2]
			case st.Keep != nil:
				if !st.Keep(cur, res, scope) {
					return dst, false
				}
			}
		}
		return append(dst, cur...), true
	}
	return out, next
}

// decoded is a batch on the pdata model; exactly one field is set, by signal.
type decoded struct {
	td ptrace.Traces
	md pmetric.Metrics
	ld plog.Logs
}

func (p *Processor) handles(sig pipeline.Signal) bool {
	switch sig {
	case pipeline.SignalTraces:
		return p.Funcs.Traces != nil
	case pipeline.SignalMetrics:
		return p.Funcs.Metrics != nil
	case pipeline.SignalLogs:
		return p.Funcs.Logs != nil
	}
	return false
}

// Consume decodes, changes, encodes and passes b on.
func (p *Processor) Consume(ctx context.Context, b pipeline.Batch) error {
	if !p.handles(b.Signal) {
		return p.Next.Consume(ctx, b)
	}
	if edits := p.wire(b.Signal); edits != nil {
		if done, err := p.consumeWire(ctx, b, edits); done {
			return err
		}
	}
	var (
		d   decoded
		err error
	)
	switch b.Signal {
	case pipeline.SignalTraces:
		d.td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b.Body)
	case pipeline.SignalMetrics:
		d.md, err = (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b.Body)
	case pipeline.SignalLogs:
		d.ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b.Body)
	}
	if err != nil {
		return resilience.Permanent(fmt.Errorf("%s: %w", p.Name, err))
	}
	return p.consume(ctx, b.Signal, d)
}

// consume changes d and passes it on: decoded to a following pdataproc stage that handles
// the signal, encoded to anything else.
func (p *Processor) consume(ctx context.Context, sig pipeline.Signal, d decoded) error {
	var items int
	switch sig {
	case pipeline.SignalTraces:
		p.Funcs.Traces(d.td)
		items = d.td.SpanCount()
	case pipeline.SignalMetrics:
		p.Funcs.Metrics(d.md)
		items = d.md.DataPointCount()
	case pipeline.SignalLogs:
		p.Funcs.Logs(d.ld)
		items = d.ld.LogRecordCount()
	}
	if items == 0 {
		return nil
	}
	if next, ok := p.Next.(*Processor); ok && next.handles(sig) {
		return next.consume(ctx, sig, d)
	}
	var (
		body []byte
		err  error
	)
	switch sig {
	case pipeline.SignalTraces:
		body, err = (&ptrace.ProtoMarshaler{}).MarshalTraces(d.td)
	case pipeline.SignalMetrics:
		body, err = (&pmetric.ProtoMarshaler{}).MarshalMetrics(d.md)
	case pipeline.SignalLogs:
		body, err = (&plog.ProtoMarshaler{}).MarshalLogs(d.ld)
	}
	if err != nil {
		return resilience.Permanent(fmt.Errorf("%s: %w", p.Name, err))
	}
	return p.Next.Consume(ctx, pipeline.Batch{Signal: sig, Body: body, Items: items})
}

// Start does nothing: these processors hold no data.
func (*Processor) Start(context.Context) error { return nil }

// Shutdown does nothing.
func (*Processor) Shutdown(context.Context) error { return nil }

// EachPoint calls f with the attributes and time of every data point of m, whatever its type.
func EachPoint(m pmetric.Metric, f func(attrs pcommon.Map, ts pcommon.Timestamp)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			f(dp.Attributes(), dp.Timestamp())
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			f(dp.Attributes(), dp.Timestamp())
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			f(dp.Attributes(), dp.Timestamp())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			f(dp.Attributes(), dp.Timestamp())
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			f(dp.Attributes(), dp.Timestamp())
		}
	}
}
