// Package count is the "count" connector: it counts the spans, span events, metrics, data
// points and log records a pipeline exports, by configured attributes, into delta sums on
// metrics pipelines, in the configuration shape of the Collector's countconnector.
package count

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/processor/pdataproc"
	"github.com/otlp-dev/otlp/resilience"
)

// ScopeName is the instrumentation scope of the metrics the connector makes.
const ScopeName = "github.com/otlp-dev/otlp/internal/connector/count"

// Default metric names and descriptions, as the Collector's count connector has them.
const (
	DefaultSpans      = "trace.span.count"
	DefaultSpanEvents = "trace.span.event.count"
	DefaultMetrics    = "metric.count"
	DefaultDataPoints = "metric.datapoint.count"
	DefaultLogs       = "log.record.count"
)

// Config is [connectors.count]. A section left out counts under its default metric name; a
// section that is set (even empty) counts only the metrics it names.
type Config struct {
	Spans      map[string]MetricInfo `toml:"spans"`
	SpanEvents map[string]MetricInfo `toml:"spanevents"`
	Metrics    map[string]MetricInfo `toml:"metrics"`
	DataPoints map[string]MetricInfo `toml:"datapoints"`
	Logs       map[string]MetricInfo `toml:"logs"`
}

// MetricInfo is one count metric.
type MetricInfo struct {
	Description string `toml:"description"`
	// Attributes split the count: each item is counted under its values of these keys (its
	// own attributes first, then its scope's, then its resource's). An item without a key
	// that has no default_value is not counted by this metric.
	Attributes []Attribute `toml:"attributes"`
	// Conditions (OTTL) are not supported: put a filter processor in front instead.
	Conditions []string `toml:"conditions"`
}

// Attribute is one key a count is split by.
type Attribute struct {
	Key          string `toml:"key"`
	DefaultValue string `toml:"default_value"`
}

// Validate checks every metric definition.
func (c *Config) Validate() error {
	var errs []error
	check := func(section string, defs map[string]MetricInfo, attrsAllowed bool) {
		for _, name := range slices.Sorted(maps.Keys(defs)) {
			d := defs[name]
			key := section + "." + name
			if name == "" {
				errs = append(errs, fmt.Errorf("%s: a metric name is required", section))
			}
			if len(d.Conditions) > 0 {
				errs = append(errs, fmt.Errorf("%s.conditions: OTTL conditions are not supported; put a filter processor in front of the connector", key))
			}
			if !attrsAllowed && len(d.Attributes) > 0 {
				errs = append(errs, fmt.Errorf("%s.attributes: metrics are counted as a whole and have no attributes to split by", key))
			}
			seen := map[string]bool{}
			for i, a := range d.Attributes {
				if a.Key == "" {
					errs = append(errs, fmt.Errorf("%s.attributes[%d].key: required", key, i))
				}
				if seen[a.Key] {
					errs = append(errs, fmt.Errorf("%s.attributes[%d].key: %q is listed twice", key, i, a.Key))
				}
				seen[a.Key] = true
			}
		}
	}
	check("spans", c.Spans, true)
	check("spanevents", c.SpanEvents, true)
	check("metrics", c.Metrics, false)
	check("datapoints", c.DataPoints, true)
	check("logs", c.Logs, true)
	return errors.Join(errs...)
}

func orDefault(defs map[string]MetricInfo, name, desc string) map[string]MetricInfo {
	if defs != nil {
		return defs
	}
	return map[string]MetricInfo{name: {Description: desc}}
}

// NewFactory returns the factory of the "count" connector.
func NewFactory() component.ConnectorFactory {
	toMetrics := []pipeline.Signal{pipeline.SignalMetrics}
	return component.NewConnectorFactory("count",
		map[pipeline.Signal][]pipeline.Signal{pipeline.SignalTraces: toMetrics, pipeline.SignalMetrics: toMetrics, pipeline.SignalLogs: toMetrics},
		func() *Config { return &Config{} },
		func(_ context.Context, _ component.Settings, cfg *Config, in, _ pipeline.Signal, next component.Routes) (component.Connector, error) {
			return New(*cfg, in, next.Fanout(), time.Now), nil
		})
}

// Connector counts one signal.
type Connector struct {
	in   pipeline.Signal
	next pipeline.Consumer
	now  func() time.Time
	// the metric definitions of the input signal: items and their sub-items (span events,
	// data points).
	items, subItems []def
}

type def struct {
	name string
	MetricInfo
}

// New builds a connector counting signal in into next; now stamps counts of items without
// timestamps.
func New(cfg Config, in pipeline.Signal, next pipeline.Consumer, now func() time.Time) *Connector {
	c := &Connector{in: in, next: next, now: now}
	switch in {
	case pipeline.SignalTraces:
		c.items = defs(orDefault(cfg.Spans, DefaultSpans, "The number of spans observed."))
		c.subItems = defs(orDefault(cfg.SpanEvents, DefaultSpanEvents, "The number of span events observed."))
	case pipeline.SignalMetrics:
		c.items = defs(orDefault(cfg.Metrics, DefaultMetrics, "The number of metrics observed."))
		c.subItems = defs(orDefault(cfg.DataPoints, DefaultDataPoints, "The number of data points observed."))
	case pipeline.SignalLogs:
		c.items = defs(orDefault(cfg.Logs, DefaultLogs, "The number of log records observed."))
	}
	return c
}

func defs(m map[string]MetricInfo) []def {
	out := make([]def, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, def{name, m[name]})
	}
	return out
}

// Start does nothing.
func (*Connector) Start(context.Context) error { return nil }

// Shutdown does nothing: counts go out with the batch they were made from.
func (*Connector) Shutdown(context.Context) error { return nil }

// Consume counts b and sends the counts on; the batch itself goes nowhere else.
func (c *Connector) Consume(ctx context.Context, b pipeline.Batch) error {
	out := pmetric.NewMetrics()
	var err error
	switch c.in {
	case pipeline.SignalTraces:
		err = c.countTraces(b.Body, out)
	case pipeline.SignalMetrics:
		err = c.countMetrics(b.Body, out)
	case pipeline.SignalLogs:
		err = c.countLogs(b.Body, out)
	}
	if err != nil {
		return resilience.Permanent(fmt.Errorf("count: %w", err))
	}
	if out.ResourceMetrics().Len() == 0 {
		return nil
	}
	body, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(out)
	if err != nil {
		return resilience.Permanent(fmt.Errorf("count: %w", err))
	}
	return pipeline.Deliver(ctx, c.next, pipeline.Batch{Signal: pipeline.SignalMetrics, Body: body, Items: out.DataPointCount()})
}

// counter holds one resource's counts.
type counter struct {
	defs   []def
	counts []map[string]*attrCount // per def, by attribute values
	first  pcommon.Timestamp
	last   pcommon.Timestamp
}

type attrCount struct {
	attrs pcommon.Map
	n     int64
}

func newCounter(defs []def) *counter {
	return &counter{defs: defs, counts: make([]map[string]*attrCount, len(defs))}
}

func (c *counter) seen(ts pcommon.Timestamp) {
	if ts == 0 {
		return
	}
	if c.first == 0 || ts < c.first {
		c.first = ts
	}
	if ts > c.last {
		c.last = ts
	}
}

// add counts one item with attributes item, then scope, then resource.
func (c *counter) add(item, scope, res pcommon.Map) {
	for i, d := range c.defs {
		attrs := pcommon.NewMap()
		var key strings.Builder
		ok := true
		for _, a := range d.Attributes {
			v, found := item.Get(a.Key)
			if !found {
				v, found = scope.Get(a.Key)
			}
			if !found {
				v, found = res.Get(a.Key)
			}
			switch {
			case found && v.Type() == pcommon.ValueTypeInt:
				attrs.PutInt(a.Key, v.Int())
				key.WriteString("i" + strconv.FormatInt(v.Int(), 10))
			case found && v.Type() == pcommon.ValueTypeDouble:
				attrs.PutDouble(a.Key, v.Double())
				key.WriteString("d" + strconv.FormatFloat(v.Double(), 'g', -1, 64))
			case found:
				attrs.PutStr(a.Key, v.AsString())
				key.WriteString("s" + strconv.Quote(v.AsString()))
			case a.DefaultValue != "":
				attrs.PutStr(a.Key, a.DefaultValue)
				key.WriteString("s" + strconv.Quote(a.DefaultValue))
			default:
				ok = false
			}
			key.WriteByte(0)
		}
		if !ok {
			continue // an attribute it is split by is missing
		}
		if c.counts[i] == nil {
			c.counts[i] = map[string]*attrCount{}
		}
		k := key.String()
		ac := c.counts[i][k]
		if ac == nil {
			ac = &attrCount{attrs: attrs}
			c.counts[i][k] = ac
		}
		ac.n++
	}
}

func (c *counter) empty() bool {
	for _, m := range c.counts {
		if len(m) > 0 {
			return false
		}
	}
	return true
}

// appendTo adds one sum per metric with counts, its points sorted by attribute values.
func (c *counter) appendTo(ms pmetric.MetricSlice, now func() time.Time) {
	start, end := c.first, c.last
	if start == 0 {
		start = pcommon.NewTimestampFromTime(now())
		end = start
	}
	for i, d := range c.defs {
		if len(c.counts[i]) == 0 {
			continue
		}
		m := ms.AppendEmpty()
		m.SetName(d.name)
		m.SetDescription(d.Description)
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true) // counts are never negative, so their sum only grows
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		for _, k := range slices.Sorted(maps.Keys(c.counts[i])) {
			ac := c.counts[i][k]
			dp := sum.DataPoints().AppendEmpty()
			ac.attrs.CopyTo(dp.Attributes())
			dp.SetIntValue(ac.n)
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(end)
		}
	}
}

// emit adds the resource's counts to out, unless it counted nothing.
func (c *Connector) emit(out pmetric.Metrics, res pcommon.Resource, counters ...*counter) {
	any := false
	for _, ct := range counters {
		any = any || !ct.empty()
	}
	if !any {
		return
	}
	rm := out.ResourceMetrics().AppendEmpty()
	res.Attributes().CopyTo(rm.Resource().Attributes())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(ScopeName)
	for _, ct := range counters {
		ct.appendTo(sm.Metrics(), c.now)
	}
}

func (c *Connector) countTraces(body []byte, out pmetric.Metrics) error {
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body)
	if err != nil {
		return err
	}
	for _, rs := range td.ResourceSpans().All() {
		res := rs.Resource().Attributes()
		spans, events := newCounter(c.items), newCounter(c.subItems)
		for _, ss := range rs.ScopeSpans().All() {
			scope := ss.Scope().Attributes()
			for _, sp := range ss.Spans().All() {
				spans.seen(sp.StartTimestamp())
				spans.seen(sp.EndTimestamp())
				spans.add(sp.Attributes(), scope, res)
				for _, ev := range sp.Events().All() {
					events.seen(ev.Timestamp())
					events.add(ev.Attributes(), scope, res)
				}
			}
		}
		c.emit(out, rs.Resource(), spans, events)
	}
	return nil
}

func (c *Connector) countMetrics(body []byte, out pmetric.Metrics) error {
	md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(body)
	if err != nil {
		return err
	}
	none := pcommon.NewMap()
	for _, rm := range md.ResourceMetrics().All() {
		res := rm.Resource().Attributes()
		metrics, points := newCounter(c.items), newCounter(c.subItems)
		for _, sm := range rm.ScopeMetrics().All() {
			scope := sm.Scope().Attributes()
			for _, m := range sm.Metrics().All() {
				metrics.add(none, scope, res)
				pdataproc.EachPoint(m, func(attrs pcommon.Map, ts pcommon.Timestamp) {
					points.seen(ts)
					points.add(attrs, scope, res)
				})
			}
		}
		c.emit(out, rm.Resource(), metrics, points)
	}
	return nil
}

func (c *Connector) countLogs(body []byte, out pmetric.Metrics) error {
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(body)
	if err != nil {
		return err
	}
	for _, rl := range ld.ResourceLogs().All() {
		res := rl.Resource().Attributes()
		logs := newCounter(c.items)
		for _, sl := range rl.ScopeLogs().All() {
			scope := sl.Scope().Attributes()
			for _, lr := range sl.LogRecords().All() {
				logs.seen(lr.Timestamp())
				logs.add(lr.Attributes(), scope, res)
			}
		}
		c.emit(out, rl.Resource(), logs)
	}
	return nil
}
