package ottl

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The items of each context, as the filter processor walks them.

// SpanItem is a span with its resource and scope.
type SpanItem struct {
	Resource pcommon.Resource
	Scope    pcommon.InstrumentationScope
	Span     ptrace.Span
}

// SpanEventItem is a span event with its span.
type SpanEventItem struct {
	SpanItem
	Event ptrace.SpanEvent
}

// MetricItem is a metric with its resource and scope.
type MetricItem struct {
	Resource pcommon.Resource
	Scope    pcommon.InstrumentationScope
	Metric   pmetric.Metric
}

// DataPointItem is one data point: Attributes, times and value of whichever type it is.
type DataPointItem struct {
	MetricItem
	Attributes  pcommon.Map
	Start, Time pcommon.Timestamp
	Int         *int64
	Double      *float64
}

// LogItem is a log record with its resource and scope.
type LogItem struct {
	Resource pcommon.Resource
	Scope    pcommon.InstrumentationScope
	Log      plog.LogRecord
}

func mapGetter[I any](p Path, m func(I) pcommon.Map) (Getter[I], error) {
	if !p.HasKey {
		return nil, fmt.Errorf("%s: give a key: %s[\"key\"]", p, p)
	}
	return func(it I) (Value, bool) {
		v, ok := m(it).Get(p.Key)
		if !ok {
			return Value{}, false
		}
		return FromPdata(v), true
	}, nil
}

func noKey(p Path) error {
	if p.HasKey {
		return fmt.Errorf("%s: takes no [key]", strings.Join(p.Parts, "."))
	}
	return nil
}

// common resolves resource.* and instrumentation_scope.* paths.
func common[I any](p Path, res func(I) pcommon.Resource, scope func(I) pcommon.InstrumentationScope) (Getter[I], bool, error) {
	switch {
	case len(p.Parts) == 2 && p.Parts[0] == "resource" && p.Parts[1] == "attributes":
		g, err := mapGetter(p, func(it I) pcommon.Map { return res(it).Attributes() })
		return g, true, err
	case len(p.Parts) == 2 && p.Parts[0] == "instrumentation_scope":
		switch p.Parts[1] {
		case "name":
			return func(it I) (Value, bool) { return Str(scope(it).Name()), true }, true, noKey(p)
		case "version":
			return func(it I) (Value, bool) { return Str(scope(it).Version()), true }, true, noKey(p)
		case "attributes":
			g, err := mapGetter(p, func(it I) pcommon.Map { return scope(it).Attributes() })
			return g, true, err
		}
	}
	return nil, false, nil
}

func unknown(p Path, ctx string, offered string) error {
	return fmt.Errorf("path %s does not exist in the %s context (paths: %s, resource.attributes[\"k\"], instrumentation_scope.name, instrumentation_scope.version, instrumentation_scope.attributes[\"k\"])", p, ctx, offered)
}

// SpanPaths resolves the paths of the span context.
func SpanPaths(p Path) (Getter[SpanItem], error) {
	if g, ok, err := common(p, func(it SpanItem) pcommon.Resource { return it.Resource }, func(it SpanItem) pcommon.InstrumentationScope { return it.Scope }); ok {
		return g, err
	}
	return spanPath(p, "span", func(it SpanItem) SpanItem { return it })
}

func spanPath[I any](p Path, ctx string, span func(I) SpanItem) (Getter[I], error) {
	name := strings.Join(p.Parts, ".")
	if name == "attributes" {
		return mapGetter(p, func(it I) pcommon.Map { return span(it).Span.Attributes() })
	}
	if err := noKey(p); err != nil {
		return nil, err
	}
	s := func(it I) ptrace.Span { return span(it).Span }
	switch name {
	case "name":
		return func(it I) (Value, bool) { return Str(s(it).Name()), true }, nil
	case "kind":
		return func(it I) (Value, bool) { return Int(int64(s(it).Kind())), true }, nil
	case "status.code":
		return func(it I) (Value, bool) { return Int(int64(s(it).Status().Code())), true }, nil
	case "status.message":
		return func(it I) (Value, bool) { return Str(s(it).Status().Message()), true }, nil
	case "start_time_unix_nano", "start_time":
		return func(it I) (Value, bool) { return Int(int64(s(it).StartTimestamp())), true }, nil
	case "end_time_unix_nano", "end_time":
		return func(it I) (Value, bool) { return Int(int64(s(it).EndTimestamp())), true }, nil
	case "trace_state":
		return func(it I) (Value, bool) { return Str(s(it).TraceState().AsRaw()), true }, nil
	case "trace_id.string":
		return func(it I) (Value, bool) { return Str(s(it).TraceID().String()), true }, nil
	case "span_id.string":
		return func(it I) (Value, bool) { return Str(s(it).SpanID().String()), true }, nil
	case "parent_span_id.string":
		return func(it I) (Value, bool) {
			id := s(it).ParentSpanID()
			if id.IsEmpty() {
				return Str(""), true
			}
			return Str(id.String()), true
		}, nil
	}
	return nil, unknown(p, ctx, `name, kind, status.code, status.message, start_time(_unix_nano), end_time(_unix_nano), trace_state, trace_id.string, span_id.string, parent_span_id.string, attributes["k"]`)
}

// SpanEventPaths resolves the paths of the spanevent context: the event's own, and the span's
// under span.
func SpanEventPaths(p Path) (Getter[SpanEventItem], error) {
	if g, ok, err := common(p, func(it SpanEventItem) pcommon.Resource { return it.Resource }, func(it SpanEventItem) pcommon.InstrumentationScope { return it.Scope }); ok {
		return g, err
	}
	if len(p.Parts) > 1 && p.Parts[0] == "span" {
		return spanPath(Path{Parts: p.Parts[1:], Key: p.Key, HasKey: p.HasKey}, "spanevent", func(it SpanEventItem) SpanItem { return it.SpanItem })
	}
	name := strings.Join(p.Parts, ".")
	if name == "attributes" {
		return mapGetter(p, func(it SpanEventItem) pcommon.Map { return it.Event.Attributes() })
	}
	if err := noKey(p); err != nil {
		return nil, err
	}
	switch name {
	case "name":
		return func(it SpanEventItem) (Value, bool) { return Str(it.Event.Name()), true }, nil
	case "time_unix_nano", "time":
		return func(it SpanEventItem) (Value, bool) { return Int(int64(it.Event.Timestamp())), true }, nil
	}
	return nil, unknown(p, "spanevent", `name, time(_unix_nano), attributes["k"], span.<span path>`)
}

// MetricPaths resolves the paths of the metric context.
func MetricPaths(p Path) (Getter[MetricItem], error) {
	if g, ok, err := common(p, func(it MetricItem) pcommon.Resource { return it.Resource }, func(it MetricItem) pcommon.InstrumentationScope { return it.Scope }); ok {
		return g, err
	}
	return metricPath(p, "metric", func(it MetricItem) pmetric.Metric { return it.Metric })
}

func metricPath[I any](p Path, ctx string, m func(I) pmetric.Metric) (Getter[I], error) {
	if err := noKey(p); err != nil {
		return nil, err
	}
	switch strings.Join(p.Parts, ".") {
	case "name":
		return func(it I) (Value, bool) { return Str(m(it).Name()), true }, nil
	case "description":
		return func(it I) (Value, bool) { return Str(m(it).Description()), true }, nil
	case "unit":
		return func(it I) (Value, bool) { return Str(m(it).Unit()), true }, nil
	case "type":
		return func(it I) (Value, bool) { return Int(int64(m(it).Type())), true }, nil
	}
	return nil, unknown(p, ctx, "name, description, unit, type")
}

// DataPointPaths resolves the paths of the datapoint context: the point's own, and its
// metric's under metric.
func DataPointPaths(p Path) (Getter[DataPointItem], error) {
	if g, ok, err := common(p, func(it DataPointItem) pcommon.Resource { return it.Resource }, func(it DataPointItem) pcommon.InstrumentationScope { return it.Scope }); ok {
		return g, err
	}
	if len(p.Parts) > 1 && p.Parts[0] == "metric" {
		return metricPath(Path{Parts: p.Parts[1:], Key: p.Key, HasKey: p.HasKey}, "datapoint", func(it DataPointItem) pmetric.Metric { return it.Metric })
	}
	name := strings.Join(p.Parts, ".")
	if name == "attributes" {
		return mapGetter(p, func(it DataPointItem) pcommon.Map { return it.Attributes })
	}
	if err := noKey(p); err != nil {
		return nil, err
	}
	switch name {
	case "time_unix_nano", "time":
		return func(it DataPointItem) (Value, bool) { return Int(int64(it.Time)), true }, nil
	case "start_time_unix_nano", "start_time":
		return func(it DataPointItem) (Value, bool) { return Int(int64(it.Start)), true }, nil
	case "value_int":
		return func(it DataPointItem) (Value, bool) {
			if it.Int == nil {
				return Int(0), true
			}
			return Int(*it.Int), true
		}, nil
	case "value_double":
		return func(it DataPointItem) (Value, bool) {
			if it.Double == nil {
				return Float(0), true
			}
			return Float(*it.Double), true
		}, nil
	}
	return nil, unknown(p, "datapoint", `attributes["k"], time(_unix_nano), start_time(_unix_nano), value_int, value_double, metric.name, metric.type, metric.unit, metric.description`)
}

// LogPaths resolves the paths of the log context.
func LogPaths(p Path) (Getter[LogItem], error) {
	if g, ok, err := common(p, func(it LogItem) pcommon.Resource { return it.Resource }, func(it LogItem) pcommon.InstrumentationScope { return it.Scope }); ok {
		return g, err
	}
	name := strings.Join(p.Parts, ".")
	if name == "attributes" {
		return mapGetter(p, func(it LogItem) pcommon.Map { return it.Log.Attributes() })
	}
	if err := noKey(p); err != nil {
		return nil, err
	}
	switch name {
	case "body":
		return func(it LogItem) (Value, bool) {
			b := it.Log.Body()
			if b.Type() == pcommon.ValueTypeEmpty {
				return Value{}, false
			}
			return FromPdata(b), true
		}, nil
	case "body.string":
		return func(it LogItem) (Value, bool) { return Str(it.Log.Body().AsString()), true }, nil
	case "severity_number":
		return func(it LogItem) (Value, bool) { return Int(int64(it.Log.SeverityNumber())), true }, nil
	case "severity_text":
		return func(it LogItem) (Value, bool) { return Str(it.Log.SeverityText()), true }, nil
	case "time_unix_nano", "time":
		return func(it LogItem) (Value, bool) { return Int(int64(it.Log.Timestamp())), true }, nil
	case "observed_time_unix_nano", "observed_time":
		return func(it LogItem) (Value, bool) { return Int(int64(it.Log.ObservedTimestamp())), true }, nil
	case "event_name":
		return func(it LogItem) (Value, bool) { return Str(it.Log.EventName()), true }, nil
	}
	return nil, unknown(p, "log", `body, body.string, severity_number, severity_text, time(_unix_nano), observed_time(_unix_nano), event_name, attributes["k"]`)
}

// ResourceItem is a resource, for conditions of the resource context.
type ResourceItem struct {
	Resource pcommon.Resource
}

// ResourcePaths resolves the paths of the resource context: attributes["k"] (also written
// resource.attributes["k"]) and dropped_attributes_count.
func ResourcePaths(p Path) (Getter[ResourceItem], error) {
	switch strings.Join(p.Parts, ".") {
	case "attributes", "resource.attributes":
		return mapGetter(p, func(it ResourceItem) pcommon.Map { return it.Resource.Attributes() })
	case "dropped_attributes_count":
		if err := noKey(p); err != nil {
			return nil, err
		}
		return func(it ResourceItem) (Value, bool) { return Int(int64(it.Resource.DroppedAttributesCount())), true }, nil
	}
	return nil, fmt.Errorf("path %s does not exist in the resource context (paths: attributes[\"k\"], dropped_attributes_count)", p)
}
