// Package filter is the "filter" processor: it drops the spans, span events, metrics, data
// points and log records that meet any of its OTTL conditions, with the configuration of the
// Collector's filterprocessor (traces.span, traces.spanevent, metrics.metric,
// metrics.datapoint, logs.log_record). Resources and scopes left empty are dropped with them.
package filter

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/otlpwire"
	"github.com/otlp-dev/otlp/internal/ottl"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/processor/pdataproc"
)

// Config is [processors.filter].
type Config struct {
	// ErrorMode is accepted for the Collector's vocabulary (propagate, ignore, silent):
	// conditions are checked when the configuration loads and cannot fail on data.
	ErrorMode string  `toml:"error_mode"`
	Traces    Traces  `toml:"traces"`
	Metrics   Metrics `toml:"metrics"`
	Logs      Logs    `toml:"logs"`
}

// Traces holds the span and span event conditions.
type Traces struct {
	Span      []string `toml:"span"`
	SpanEvent []string `toml:"spanevent"`
}

// Metrics holds the metric and data point conditions.
type Metrics struct {
	Metric    []string `toml:"metric"`
	DataPoint []string `toml:"datapoint"`
}

// Logs holds the log record conditions.
type Logs struct {
	LogRecord []string `toml:"log_record"`
}

type compiled struct {
	spans      []*ottl.Condition[ottl.SpanItem]
	spanEvents []*ottl.Condition[ottl.SpanEventItem]
	metrics    []*ottl.Condition[ottl.MetricItem]
	points     []*ottl.Condition[ottl.DataPointItem]
	logs       []*ottl.Condition[ottl.LogItem]
}

func (c *Config) compile() (*compiled, error) {
	var out compiled
	var errs []error
	var err error
	if out.spans, err = ottl.ParseAll("traces.span", c.Traces.Span, ottl.SpanPaths); err != nil {
		errs = append(errs, err)
	}
	if out.spanEvents, err = ottl.ParseAll("traces.spanevent", c.Traces.SpanEvent, ottl.SpanEventPaths); err != nil {
		errs = append(errs, err)
	}
	if out.metrics, err = ottl.ParseAll("metrics.metric", c.Metrics.Metric, ottl.MetricPaths); err != nil {
		errs = append(errs, err)
	}
	if out.points, err = ottl.ParseAll("metrics.datapoint", c.Metrics.DataPoint, ottl.DataPointPaths); err != nil {
		errs = append(errs, err)
	}
	if out.logs, err = ottl.ParseAll("logs.log_record", c.Logs.LogRecord, ottl.LogPaths); err != nil {
		errs = append(errs, err)
	}
	return &out, errors.Join(errs...)
}

// Validate parses every condition.
func (c *Config) Validate() error {
	switch c.ErrorMode {
	case "", "propagate", "ignore", "silent":
	default:
		return fmt.Errorf("error_mode: %q is not one of propagate, ignore, silent", c.ErrorMode)
	}
	n := len(c.Traces.Span) + len(c.Traces.SpanEvent) + len(c.Metrics.Metric) + len(c.Metrics.DataPoint) + len(c.Logs.LogRecord)
	if n == 0 {
		return errors.New("at least one condition is required (traces.span, traces.spanevent, metrics.metric, metrics.datapoint or logs.log_record)")
	}
	_, err := c.compile()
	return err
}

// NewFactory returns the factory of the "filter" processor.
func NewFactory() component.ProcessorFactory {
	return component.NewProcessorFactory("filter", component.AllSignals,
		func() *Config { return &Config{} },
		func(_ context.Context, _ component.PipelineSettings, cfg *Config, next pipeline.Consumer) (component.Processor, error) {
			return New(*cfg, next)
		})
}

// New builds the processor.
func New(cfg Config, next pipeline.Consumer) (*pdataproc.Processor, error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	f := pdataproc.Funcs{}
	if len(c.spans)+len(c.spanEvents) > 0 {
		f.Traces = c.traces
	}
	if len(c.metrics)+len(c.points) > 0 {
		f.Metrics = c.metricsFn
	}
	if len(c.logs) > 0 {
		f.Logs = c.logsFn
	}
	p := &pdataproc.Processor{Name: "filter", Next: next, Funcs: f}
	// Conditions the view reads exactly decide on the wire: kept items are copied as they
	// are, and a request that loses nothing passes unchanged.
	if len(c.spans) > 0 && len(c.spanEvents) == 0 {
		if conds, err := ottl.ParseAll("traces.span", cfg.Traces.Span, ottl.WireSpanPaths); err == nil {
			p.Wire.Traces = func(sc *pdataproc.Scratch) otlpwire.Edits {
				return otlpwire.Edits{DropEmpty: true, Keep: func(item, res, scope []byte) bool {
					return !ottl.Any(conds, ottl.WireSpanItem{Resource: otlpwire.ResourceOf(res), Scope: otlpwire.ScopeOf(scope),
						Span: otlpwire.SpanOf(item), Unsupported: &sc.Unsupported})
				}}
			}
		}
	}
	if len(c.logs) > 0 {
		if conds, err := ottl.ParseAll("logs.log_record", cfg.Logs.LogRecord, ottl.WireLogPaths); err == nil {
			p.Wire.Logs = func(sc *pdataproc.Scratch) otlpwire.Edits {
				return otlpwire.Edits{DropEmpty: true, Keep: func(item, res, scope []byte) bool {
					return !ottl.Any(conds, ottl.WireLogItem{Resource: otlpwire.ResourceOf(res), Scope: otlpwire.ScopeOf(scope),
						Log: otlpwire.LogRecordOf(item), Unsupported: &sc.Unsupported})
				}}
			}
		}
	}
	return p, nil
}

func (c *compiled) traces(td ptrace.Traces) {
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
				it := ottl.SpanItem{Resource: rs.Resource(), Scope: ss.Scope(), Span: sp}
				if ottl.Any(c.spans, it) {
					return true
				}
				if len(c.spanEvents) > 0 {
					sp.Events().RemoveIf(func(ev ptrace.SpanEvent) bool {
						return ottl.Any(c.spanEvents, ottl.SpanEventItem{SpanItem: it, Event: ev})
					})
				}
				return false
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
}

func (c *compiled) metricsFn(md pmetric.Metrics) {
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				mi := ottl.MetricItem{Resource: rm.Resource(), Scope: sm.Scope(), Metric: m}
				if ottl.Any(c.metrics, mi) {
					return true
				}
				if len(c.points) == 0 {
					return false
				}
				return c.dropPoints(mi)
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
}

// dropPoints removes the metric's matching points and reports whether none is left.
func (c *compiled) dropPoints(mi ottl.MetricItem) bool {
	m := mi.Metric
	num := func(dp pmetric.NumberDataPoint) bool {
		it := ottl.DataPointItem{MetricItem: mi, Attributes: dp.Attributes(), Start: dp.StartTimestamp(), Time: dp.Timestamp()}
		switch dp.ValueType() {
		case pmetric.NumberDataPointValueTypeInt:
			v := dp.IntValue()
			it.Int = &v
		case pmetric.NumberDataPointValueTypeDouble:
			v := dp.DoubleValue()
			it.Double = &v
		}
		return ottl.Any(c.points, it)
	}
	other := func(attrs pcommon.Map, start, ts pcommon.Timestamp) bool {
		return ottl.Any(c.points, ottl.DataPointItem{MetricItem: mi, Attributes: attrs, Start: start, Time: ts})
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		m.Gauge().DataPoints().RemoveIf(num)
		return m.Gauge().DataPoints().Len() == 0
	case pmetric.MetricTypeSum:
		m.Sum().DataPoints().RemoveIf(num)
		return m.Sum().DataPoints().Len() == 0
	case pmetric.MetricTypeHistogram:
		m.Histogram().DataPoints().RemoveIf(func(dp pmetric.HistogramDataPoint) bool {
			return other(dp.Attributes(), dp.StartTimestamp(), dp.Timestamp())
		})
		return m.Histogram().DataPoints().Len() == 0
	case pmetric.MetricTypeExponentialHistogram:
		m.ExponentialHistogram().DataPoints().RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
			return other(dp.Attributes(), dp.StartTimestamp(), dp.Timestamp())
		})
		return m.ExponentialHistogram().DataPoints().Len() == 0
	case pmetric.MetricTypeSummary:
		m.Summary().DataPoints().RemoveIf(func(dp pmetric.SummaryDataPoint) bool {
			return other(dp.Attributes(), dp.StartTimestamp(), dp.Timestamp())
		})
		return m.Summary().DataPoints().Len() == 0
	}
	return false
}

func (c *compiled) logsFn(ld plog.Logs) {
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				return ottl.Any(c.logs, ottl.LogItem{Resource: rl.Resource(), Scope: sl.Scope(), Log: lr})
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
}
