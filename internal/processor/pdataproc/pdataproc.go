// Package pdataproc runs a processor that changes data on the pdata model: it decodes a batch,
// lets the processor change it, and encodes what is left for the next stage. Consecutive
// pdataproc stages hand the decoded batch on without encoding it in between, so a chain of
// them decodes and encodes once.
package pdataproc

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

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
