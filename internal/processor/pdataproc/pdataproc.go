// Package pdataproc runs a processor that changes data on the pdata model: it decodes a batch,
// lets the processor change it, and encodes what is left for the next stage.
package pdataproc

import (
	"context"
	"fmt"

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

// Consume decodes, changes, encodes and passes b on.
func (p *Processor) Consume(ctx context.Context, b pipeline.Batch) error {
	var (
		body  []byte
		items int
		err   error
	)
	switch b.Signal {
	case pipeline.SignalTraces:
		if p.Funcs.Traces == nil {
			return p.Next.Consume(ctx, b)
		}
		var td ptrace.Traces
		if td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b.Body); err == nil {
			p.Funcs.Traces(td)
			items = td.SpanCount()
			body, err = (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		}
	case pipeline.SignalMetrics:
		if p.Funcs.Metrics == nil {
			return p.Next.Consume(ctx, b)
		}
		var md pmetric.Metrics
		if md, err = (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b.Body); err == nil {
			p.Funcs.Metrics(md)
			items = md.DataPointCount()
			body, err = (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		}
	case pipeline.SignalLogs:
		if p.Funcs.Logs == nil {
			return p.Next.Consume(ctx, b)
		}
		var ld plog.Logs
		if ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b.Body); err == nil {
			p.Funcs.Logs(ld)
			items = ld.LogRecordCount()
			body, err = (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		}
	default:
		return p.Next.Consume(ctx, b)
	}
	if err != nil {
		return resilience.Permanent(fmt.Errorf("%s: %w", p.Name, err))
	}
	if items == 0 {
		return nil
	}
	return p.Next.Consume(ctx, pipeline.Batch{Signal: b.Signal, Body: body, Items: items})
}

// Start does nothing: these processors hold no data.
func (*Processor) Start(context.Context) error { return nil }

// Shutdown does nothing.
func (*Processor) Shutdown(context.Context) error { return nil }
