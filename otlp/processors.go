package otlp

import (
	"context"
	"sync/atomic"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/otlp/internal/otlpenc"
)

// spanProcessor batches sampled spans into the sending queue.
type spanProcessor struct {
	b *batcher[sdktrace.ReadOnlySpan]
}

func newSpanProcessor(b *batcher[sdktrace.ReadOnlySpan]) *spanProcessor { return &spanProcessor{b: b} }

func encodeSpans() func([]byte, []sdktrace.ReadOnlySpan) []byte {
	var enc otlpenc.TraceEncoder // used by the batcher's one worker only
	return enc.AppendSpans
}

func (p *spanProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (p *spanProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() {
		p.b.add(s)
	}
}

func (p *spanProcessor) Shutdown(ctx context.Context) error   { return p.b.shutdown(ctx) }
func (p *spanProcessor) ForceFlush(ctx context.Context) error { return p.b.forceFlush(ctx) }

// logProcessor batches copies of emitted records into the sending queue.
type logProcessor struct {
	b *batcher[sdklog.Record]
}

func encodeLogs() func([]byte, []sdklog.Record) []byte {
	var enc otlpenc.LogEncoder
	return enc.AppendLogs
}

func (p *logProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	p.b.add(r.Clone()) // the SDK reuses r once OnEmit returns
	return nil
}

func (p *logProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (p *logProcessor) Shutdown(ctx context.Context) error                     { return p.b.shutdown(ctx) }
func (p *logProcessor) ForceFlush(ctx context.Context) error                   { return p.b.forceFlush(ctx) }

// metricExporter encodes each collection and puts it in the sending queue.
type metricExporter struct {
	dest     *destRef
	m        *selftel.Metrics
	accepted *counter
}

type counter struct{ n, dropped atomic.Int64 }

func (e *metricExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (e *metricExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *metricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	body, points, err := otlpenc.Metrics(rm)
	if err != nil || points == 0 {
		return err
	}
	e.accepted.n.Add(int64(points))
	b := pipeline.Batch{Signal: pipeline.SignalMetrics, Body: body, Items: points}
	for range 3 {
		d := e.dest.load()
		err = d.Consume(ctx, b)
		if err == nil || e.dest.current(d) {
			break
		}
	}
	if err != nil {
		e.accepted.dropped.Add(int64(points))
		e.m.Dropped(pipeline.SignalMetrics, selftel.ReasonQueueFull, points)
	}
	return err
}

func (e *metricExporter) ForceFlush(context.Context) error { return nil }
func (e *metricExporter) Shutdown(context.Context) error   { return nil }
