package routing

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/ottl"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/resilience"
)

// Consume splits b by the table and delivers each part to its route's pipelines. When every
// resource goes to one route, b goes on unchanged (no re-encoding).
func (c *Connector) Consume(ctx context.Context, b pipeline.Batch) error {
	var (
		parts []pipeline.Batch // one per route, then the default; Body nil when empty
		whole = -1             // the one destination taking all of b, if any
		err   error
	)
	switch c.signal {
	case pipeline.SignalTraces:
		parts, whole, err = c.splitTraces(b.Body)
	case pipeline.SignalMetrics:
		parts, whole, err = c.splitMetrics(b.Body)
	case pipeline.SignalLogs:
		parts, whole, err = c.splitLogs(b.Body)
	}
	if err != nil {
		return resilience.Permanent(fmt.Errorf("routing: %w", err))
	}
	dest := func(i int) pipeline.Consumer {
		if i < len(c.routes) {
			return c.routes[i].to
		}
		return c.def
	}
	if whole >= 0 {
		if d := dest(whole); d != nil {
			return d.Consume(ctx, b)
		}
		return nil // matches no route and there is no default: dropped, as the Collector does
	}
	var errs []error
	for i, p := range parts {
		d := dest(i)
		if p.Body == nil || d == nil {
			continue
		}
		p.Signal = c.signal
		if err := pipeline.Deliver(ctx, d, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fastDest reports the one destination every resource goes to when the table looks at
// resources only and moves (does not copy) them: the first route a resource meets, or the
// default (len(routes)).
func (c *Connector) fastDest(n int, res func(i int) pcommon.Resource) (int, bool) {
	for _, r := range c.routes {
		if r.ctx != "resource" || r.copy {
			return 0, false
		}
	}
	if n == 0 {
		return 0, false
	}
	dest := func(i int) int {
		it := ottl.ResourceItem{Resource: res(i)}
		for j, r := range c.routes {
			if r.res.Eval(it) {
				return j
			}
		}
		return len(c.routes)
	}
	d := dest(0)
	for i := 1; i < n; i++ {
		if dest(i) != d {
			return 0, false
		}
	}
	return d, true
}

// Each split walks the table in order, as the Collector's connector does: a route takes (or,
// with action = "copy", copies) what meets its condition out of what earlier routes left, and
// what is left at the end goes to the default pipelines. Resources and scopes go along with
// the items they hold; those left empty are removed.

func (c *Connector) splitTraces(body []byte) ([]pipeline.Batch, int, error) {
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body)
	if err != nil {
		return nil, -1, err
	}
	rss := td.ResourceSpans()
	if d, ok := c.fastDest(rss.Len(), func(i int) pcommon.Resource { return rss.At(i).Resource() }); ok {
		return nil, d, nil
	}
	outs := make([]ptrace.Traces, len(c.routes)+1)
	for i, r := range c.routes {
		to := ptrace.NewTraces()
		outs[i] = to
		if r.ctx == "resource" {
			rss.RemoveIf(func(rs ptrace.ResourceSpans) bool {
				if !r.res.Eval(ottl.ResourceItem{Resource: rs.Resource()}) {
					return false
				}
				if r.copy {
					rs.CopyTo(to.ResourceSpans().AppendEmpty())
					return false
				}
				rs.MoveTo(to.ResourceSpans().AppendEmpty())
				return true
			})
			continue
		}
		rss.RemoveIf(func(rs ptrace.ResourceSpans) bool {
			var dst ptrace.ResourceSpans
			rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
				var dss ptrace.ScopeSpans
				ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
					if !r.span.Eval(ottl.SpanItem{Resource: rs.Resource(), Scope: ss.Scope(), Span: sp}) {
						return false
					}
					if dss == (ptrace.ScopeSpans{}) {
						if dst == (ptrace.ResourceSpans{}) {
							dst = to.ResourceSpans().AppendEmpty()
							rs.Resource().CopyTo(dst.Resource())
							dst.SetSchemaUrl(rs.SchemaUrl())
						}
						dss = dst.ScopeSpans().AppendEmpty()
						ss.Scope().CopyTo(dss.Scope())
						dss.SetSchemaUrl(ss.SchemaUrl())
					}
					if r.copy {
						sp.CopyTo(dss.Spans().AppendEmpty())
						return false
					}
					sp.MoveTo(dss.Spans().AppendEmpty())
					return true
				})
				return ss.Spans().Len() == 0
			})
			return rs.ScopeSpans().Len() == 0
		})
	}
	outs[len(c.routes)] = td
	parts := make([]pipeline.Batch, len(outs))
	m := &ptrace.ProtoMarshaler{}
	for i, t := range outs {
		if t.ResourceSpans().Len() == 0 {
			continue
		}
		b, err := m.MarshalTraces(t)
		if err != nil {
			return nil, -1, err
		}
		parts[i] = pipeline.Batch{Body: b, Items: t.SpanCount()}
	}
	return parts, -1, nil
}

func (c *Connector) splitMetrics(body []byte) ([]pipeline.Batch, int, error) {
	md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(body)
	if err != nil {
		return nil, -1, err
	}
	rms := md.ResourceMetrics()
	if d, ok := c.fastDest(rms.Len(), func(i int) pcommon.Resource { return rms.At(i).Resource() }); ok {
		return nil, d, nil
	}
	outs := make([]pmetric.Metrics, len(c.routes)+1)
	for i, r := range c.routes {
		to := pmetric.NewMetrics()
		outs[i] = to
		if r.ctx == "resource" {
			rms.RemoveIf(func(rm pmetric.ResourceMetrics) bool {
				if !r.res.Eval(ottl.ResourceItem{Resource: rm.Resource()}) {
					return false
				}
				if r.copy {
					rm.CopyTo(to.ResourceMetrics().AppendEmpty())
					return false
				}
				rm.MoveTo(to.ResourceMetrics().AppendEmpty())
				return true
			})
			continue
		}
		rms.RemoveIf(func(rm pmetric.ResourceMetrics) bool {
			var dst pmetric.ResourceMetrics
			rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
				var dsm pmetric.ScopeMetrics
				sm.Metrics().RemoveIf(func(mt pmetric.Metric) bool {
					if !r.metric.Eval(ottl.MetricItem{Resource: rm.Resource(), Scope: sm.Scope(), Metric: mt}) {
						return false
					}
					if dsm == (pmetric.ScopeMetrics{}) {
						if dst == (pmetric.ResourceMetrics{}) {
							dst = to.ResourceMetrics().AppendEmpty()
							rm.Resource().CopyTo(dst.Resource())
							dst.SetSchemaUrl(rm.SchemaUrl())
						}
						dsm = dst.ScopeMetrics().AppendEmpty()
						sm.Scope().CopyTo(dsm.Scope())
						dsm.SetSchemaUrl(sm.SchemaUrl())
					}
					if r.copy {
						mt.CopyTo(dsm.Metrics().AppendEmpty())
						return false
					}
					mt.MoveTo(dsm.Metrics().AppendEmpty())
					return true
				})
				return sm.Metrics().Len() == 0
			})
			return rm.ScopeMetrics().Len() == 0
		})
	}
	outs[len(c.routes)] = md
	parts := make([]pipeline.Batch, len(outs))
	m := &pmetric.ProtoMarshaler{}
	for i, t := range outs {
		if t.ResourceMetrics().Len() == 0 {
			continue
		}
		b, err := m.MarshalMetrics(t)
		if err != nil {
			return nil, -1, err
		}
		parts[i] = pipeline.Batch{Body: b, Items: t.DataPointCount()}
	}
	return parts, -1, nil
}

func (c *Connector) splitLogs(body []byte) ([]pipeline.Batch, int, error) {
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(body)
	if err != nil {
		return nil, -1, err
	}
	rls := ld.ResourceLogs()
	if d, ok := c.fastDest(rls.Len(), func(i int) pcommon.Resource { return rls.At(i).Resource() }); ok {
		return nil, d, nil
	}
	outs := make([]plog.Logs, len(c.routes)+1)
	for i, r := range c.routes {
		to := plog.NewLogs()
		outs[i] = to
		if r.ctx == "resource" {
			rls.RemoveIf(func(rl plog.ResourceLogs) bool {
				if !r.res.Eval(ottl.ResourceItem{Resource: rl.Resource()}) {
					return false
				}
				if r.copy {
					rl.CopyTo(to.ResourceLogs().AppendEmpty())
					return false
				}
				rl.MoveTo(to.ResourceLogs().AppendEmpty())
				return true
			})
			continue
		}
		rls.RemoveIf(func(rl plog.ResourceLogs) bool {
			var dst plog.ResourceLogs
			rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
				var dsl plog.ScopeLogs
				sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
					if !r.log.Eval(ottl.LogItem{Resource: rl.Resource(), Scope: sl.Scope(), Log: lr}) {
						return false
					}
					if dsl == (plog.ScopeLogs{}) {
						if dst == (plog.ResourceLogs{}) {
							dst = to.ResourceLogs().AppendEmpty()
							rl.Resource().CopyTo(dst.Resource())
							dst.SetSchemaUrl(rl.SchemaUrl())
						}
						dsl = dst.ScopeLogs().AppendEmpty()
						sl.Scope().CopyTo(dsl.Scope())
						dsl.SetSchemaUrl(sl.SchemaUrl())
					}
					if r.copy {
						lr.CopyTo(dsl.LogRecords().AppendEmpty())
						return false
					}
					lr.MoveTo(dsl.LogRecords().AppendEmpty())
					return true
				})
				return sl.LogRecords().Len() == 0
			})
			return rl.ScopeLogs().Len() == 0
		})
	}
	outs[len(c.routes)] = ld
	parts := make([]pipeline.Batch, len(outs))
	m := &plog.ProtoMarshaler{}
	for i, t := range outs {
		if t.ResourceLogs().Len() == 0 {
			continue
		}
		b, err := m.MarshalLogs(t)
		if err != nil {
			return nil, -1, err
		}
		parts[i] = pipeline.Batch{Body: b, Items: t.LogRecordCount()}
	}
	return parts, -1, nil
}
