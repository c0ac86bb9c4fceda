package ottl

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unsafe"

	"github.com/otlp-dev/otlp/internal/otlpwire"
)

// The wire contexts read items in their encoded form through the otlpwire view, for stages
// that decide without decoding (the filter processor on the wire). They resolve the paths
// whose values the view gives exactly; a condition using another path fails to parse in them,
// and its stage keeps to the pdata contexts.
//
// A map or slice attribute value compares by its JSON form in pdata, which the view does not
// build: reading one sets the item's Unsupported flag, and the stage then decides the whole
// request with pdata instead.

// WireSpanItem is a span in wire form with its resource and scope.
type WireSpanItem struct {
	Resource otlpwire.Resource
	Scope    otlpwire.Scope
	Span     otlpwire.Span
	// Unsupported is set when a getter met a value only pdata can compare.
	Unsupported *bool
}

// WireLogItem is a log record in wire form with its resource and scope.
type WireLogItem struct {
	Resource    otlpwire.Resource
	Scope       otlpwire.Scope
	Log         otlpwire.LogRecord
	Unsupported *bool
}

// str makes a value of b without copying: a condition's values do not outlive its Eval, and
// the request's bytes outlive that.
func str(b []byte) Value {
	return Str(unsafe.String(unsafe.SliceData(b), len(b)))
}

func fromWire(v otlpwire.Value, unsupported *bool) (Value, bool) {
	switch v.Type() {
	case otlpwire.ValueStr:
		return str(v.Str()), true
	case otlpwire.ValueInt:
		return Int(v.Int()), true
	case otlpwire.ValueDouble:
		return Float(v.Double()), true
	case otlpwire.ValueBool:
		return Bool(v.Bool()), true
	case otlpwire.ValueBytes:
		return other(base64.StdEncoding.EncodeToString(v.Bytes())), true
	case otlpwire.ValueEmpty:
		return Value{}, true
	}
	if unsupported != nil {
		*unsupported = true
	}
	return Value{}, true
}

// wireMap reads attribute p.Key through attr.
func wireMap[I any](p Path, attr func(it I, key string) (otlpwire.Value, bool, *bool)) (Getter[I], error) {
	if !p.HasKey {
		return nil, fmt.Errorf("%s: give a key: %s[\"key\"]", p, p)
	}
	return func(it I) (Value, bool) {
		v, ok, unsupported := attr(it, p.Key)
		if !ok {
			return Value{}, false
		}
		return fromWire(v, unsupported)
	}, nil
}

func wireCommon[I any](p Path, res func(I) otlpwire.Resource, scope func(I) otlpwire.Scope, flag func(I) *bool) (Getter[I], bool, error) {
	switch {
	case len(p.Parts) == 2 && p.Parts[0] == "resource" && p.Parts[1] == "attributes":
		g, err := wireMap(p, func(it I, k string) (otlpwire.Value, bool, *bool) { v, ok := res(it).Attr(k); return v, ok, flag(it) })
		return g, true, err
	case len(p.Parts) == 2 && p.Parts[0] == "instrumentation_scope":
		switch p.Parts[1] {
		case "name":
			return func(it I) (Value, bool) { return str(scope(it).Name()), true }, true, noKey(p)
		case "version":
			return func(it I) (Value, bool) { return str(scope(it).Version()), true }, true, noKey(p)
		case "attributes":
			g, err := wireMap(p, func(it I, k string) (otlpwire.Value, bool, *bool) { v, ok := scope(it).Attr(k); return v, ok, flag(it) })
			return g, true, err
		}
	}
	return nil, false, nil
}

// WireSpanPaths resolves the span context's paths the view reads exactly.
func WireSpanPaths(p Path) (Getter[WireSpanItem], error) {
	if g, ok, err := wireCommon(p, func(it WireSpanItem) otlpwire.Resource { return it.Resource },
		func(it WireSpanItem) otlpwire.Scope { return it.Scope }, func(it WireSpanItem) *bool { return it.Unsupported }); ok {
		return g, err
	}
	name := strings.Join(p.Parts, ".")
	if name == "attributes" {
		return wireMap(p, func(it WireSpanItem, k string) (otlpwire.Value, bool, *bool) {
			v, ok := it.Span.Attr(k)
			return v, ok, it.Unsupported
		})
	}
	if err := noKey(p); err != nil {
		return nil, err
	}
	switch name {
	case "name":
		return func(it WireSpanItem) (Value, bool) { return str(it.Span.Name()), true }, nil
	case "kind":
		return func(it WireSpanItem) (Value, bool) { return Int(int64(it.Span.Kind())), true }, nil
	case "status.code":
		return func(it WireSpanItem) (Value, bool) { c, _ := it.Span.Status(); return Int(int64(c)), true }, nil
	case "status.message":
		return func(it WireSpanItem) (Value, bool) { _, m := it.Span.Status(); return str(m), true }, nil
	case "start_time_unix_nano", "start_time":
		return func(it WireSpanItem) (Value, bool) { return Int(int64(it.Span.StartTime())), true }, nil
	case "end_time_unix_nano", "end_time":
		return func(it WireSpanItem) (Value, bool) { return Int(int64(it.Span.EndTime())), true }, nil
	case "trace_state":
		return func(it WireSpanItem) (Value, bool) { return str(it.Span.TraceState()), true }, nil
	}
	return nil, fmt.Errorf("path %s is not read on the wire", p)
}

// WireLogPaths resolves the log context's paths the view reads exactly (body is left to
// pdata: its string form of a map is JSON).
func WireLogPaths(p Path) (Getter[WireLogItem], error) {
	if g, ok, err := wireCommon(p, func(it WireLogItem) otlpwire.Resource { return it.Resource },
		func(it WireLogItem) otlpwire.Scope { return it.Scope }, func(it WireLogItem) *bool { return it.Unsupported }); ok {
		return g, err
	}
	name := strings.Join(p.Parts, ".")
	if name == "attributes" {
		return wireMap(p, func(it WireLogItem, k string) (otlpwire.Value, bool, *bool) {
			v, ok := it.Log.Attr(k)
			return v, ok, it.Unsupported
		})
	}
	if err := noKey(p); err != nil {
		return nil, err
	}
	switch name {
	case "severity_number":
		return func(it WireLogItem) (Value, bool) { return Int(int64(it.Log.SeverityNumber())), true }, nil
	case "severity_text":
		return func(it WireLogItem) (Value, bool) { return str(it.Log.SeverityText()), true }, nil
	case "time_unix_nano", "time":
		return func(it WireLogItem) (Value, bool) { return Int(int64(it.Log.Time())), true }, nil
	case "observed_time_unix_nano", "observed_time":
		return func(it WireLogItem) (Value, bool) { return Int(int64(it.Log.ObservedTime())), true }, nil
	case "event_name":
		return func(it WireLogItem) (Value, bool) { return str(it.Log.EventName()), true }, nil
	}
	return nil, fmt.Errorf("path %s is not read on the wire", p)
}
