package debug

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/exporter/otlpmsg"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// logItems writes one Info line per span, data point or log record, each with its resource
// and scope, so that a line read alone is complete.
func (e *Exporter) logItems(ctx context.Context, r otlpmsg.Request) {
	switch r.Signal {
	case pipeline.SignalTraces:
		e.logTraces(ctx, r.Traces)
	case pipeline.SignalMetrics:
		e.logMetrics(ctx, r.Metrics)
	case pipeline.SignalLogs:
		e.logLogs(ctx, r.Logs)
	}
}

func origin(res pcommon.Resource, scope pcommon.InstrumentationScope) []any {
	return []any{
		slog.Any("resource", res.Attributes().AsRaw()),
		slog.String("scope", scope.Name()), slog.String("scope_version", scope.Version()),
	}
}

func (e *Exporter) logTraces(ctx context.Context, td ptrace.Traces) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			o := origin(rs.Resource(), ss.Scope())
			for _, s := range ss.Spans().All() {
				e.log.InfoContext(ctx, "span", append(o,
					slog.String("trace_id", s.TraceID().String()),
					slog.String("span_id", s.SpanID().String()),
					slog.String("parent_span_id", s.ParentSpanID().String()),
					slog.String("name", s.Name()),
					slog.String("kind", s.Kind().String()),
					slog.Time("start", s.StartTimestamp().AsTime()),
					slog.Duration("duration", s.EndTimestamp().AsTime().Sub(s.StartTimestamp().AsTime())),
					slog.String("status", s.Status().Code().String()),
					slog.String("status_message", s.Status().Message()),
					slog.Any("attributes", s.Attributes().AsRaw()),
					slog.Int("events", s.Events().Len()),
					slog.Int("links", s.Links().Len()),
				)...)
			}
		}
	}
}

func (e *Exporter) logMetrics(ctx context.Context, md pmetric.Metrics) {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			o := origin(rm.Resource(), sm.Scope())
			for _, m := range sm.Metrics().All() {
				head := append(o, slog.String("metric", m.Name()), slog.String("type", m.Type().String()), slog.String("unit", m.Unit()))
				point := func(ts pcommon.Timestamp, attrs pcommon.Map, value ...any) {
					e.log.InfoContext(ctx, "data point", append(append(head[:len(head):len(head)],
						slog.Time("time", ts.AsTime()), slog.Any("attributes", attrs.AsRaw())), value...)...)
				}
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for _, dp := range m.Gauge().DataPoints().All() {
						point(dp.Timestamp(), dp.Attributes(), numberValue(dp))
					}
				case pmetric.MetricTypeSum:
					for _, dp := range m.Sum().DataPoints().All() {
						point(dp.Timestamp(), dp.Attributes(), numberValue(dp), slog.Bool("monotonic", m.Sum().IsMonotonic()))
					}
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						point(dp.Timestamp(), dp.Attributes(), slog.Uint64("count", dp.Count()), slog.Float64("sum", dp.Sum()),
							slog.Any("bounds", dp.ExplicitBounds().AsRaw()), slog.Any("buckets", dp.BucketCounts().AsRaw()))
					}
				case pmetric.MetricTypeExponentialHistogram:
					for _, dp := range m.ExponentialHistogram().DataPoints().All() {
						point(dp.Timestamp(), dp.Attributes(), slog.Uint64("count", dp.Count()), slog.Float64("sum", dp.Sum()),
							slog.Int("scale", int(dp.Scale())))
					}
				case pmetric.MetricTypeSummary:
					for _, dp := range m.Summary().DataPoints().All() {
						point(dp.Timestamp(), dp.Attributes(), slog.Uint64("count", dp.Count()), slog.Float64("sum", dp.Sum()))
					}
				}
			}
		}
	}
}

func numberValue(dp pmetric.NumberDataPoint) slog.Attr {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return slog.Int64("value", dp.IntValue())
	}
	return slog.Float64("value", dp.DoubleValue())
}

func (e *Exporter) logLogs(ctx context.Context, ld plog.Logs) {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			o := origin(rl.Resource(), sl.Scope())
			for _, lr := range sl.LogRecords().All() {
				e.log.InfoContext(ctx, "log record", append(o,
					slog.Time("time", lr.Timestamp().AsTime()),
					slog.String("severity", lr.SeverityText()),
					slog.Int("severity_number", int(lr.SeverityNumber())),
					slog.String("body", lr.Body().AsString()),
					slog.Any("attributes", lr.Attributes().AsRaw()),
					slog.String("trace_id", lr.TraceID().String()),
					slog.String("span_id", lr.SpanID().String()),
				)...)
			}
		}
	}
}
