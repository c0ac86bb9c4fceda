package otlpenc

import (
	"reflect"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// snapshotLayout is where the official SDK's span snapshot, the ReadOnlySpan its spans hand
// to OnEnd, keeps what the encoder reads. The snapshot's methods have value receivers, so
// every call through the interface copies the whole struct (408 bytes in v1.47): the 15
// calls a span needs were two thirds of the encoder's time. Reading the fields in place
// gives the same values at a fraction of the cost.
//
// The layout is found by reflection on a span's dynamic type, each field by name and exact
// type, and kept only if reading the first span through it gives exactly what its methods
// give; anything unexpected (another SDK version, another ReadOnlySpan implementation) leaves
// the encoder on the methods. TestSnapshotLayout pins it to the SDK version in go.mod.
type snapshotLayout struct {
	typ reflect.Type // pointer to the snapshot struct

	name, spanContext, parent, spanKind, startTime, endTime  uintptr
	attributes, events, links, status                        uintptr
	droppedAttributes, droppedEvents, droppedLinks, resource uintptr
	scope                                                    uintptr
}

// findSnapshotLayout returns the layout of sp's type, or nil when sp's fields cannot be
// read in place.
func findSnapshotLayout(sp sdktrace.ReadOnlySpan) *snapshotLayout {
	t := reflect.TypeOf(sp)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct ||
		t.Elem().PkgPath() != reflect.TypeFor[sdktrace.Event]().PkgPath() {
		return nil
	}
	l := &snapshotLayout{typ: t}
	for _, f := range []struct {
		name string
		typ  reflect.Type
		off  *uintptr
	}{
		{"name", reflect.TypeFor[string](), &l.name},
		{"spanContext", reflect.TypeFor[trace.SpanContext](), &l.spanContext},
		{"parent", reflect.TypeFor[trace.SpanContext](), &l.parent},
		{"spanKind", reflect.TypeFor[trace.SpanKind](), &l.spanKind},
		{"startTime", reflect.TypeFor[time.Time](), &l.startTime},
		{"endTime", reflect.TypeFor[time.Time](), &l.endTime},
		{"attributes", reflect.TypeFor[[]attribute.KeyValue](), &l.attributes},
		{"events", reflect.TypeFor[[]sdktrace.Event](), &l.events},
		{"links", reflect.TypeFor[[]sdktrace.Link](), &l.links},
		{"status", reflect.TypeFor[sdktrace.Status](), &l.status},
		{"droppedAttributeCount", reflect.TypeFor[int](), &l.droppedAttributes},
		{"droppedEventCount", reflect.TypeFor[int](), &l.droppedEvents},
		{"droppedLinkCount", reflect.TypeFor[int](), &l.droppedLinks},
		{"resource", reflect.TypeFor[*resource.Resource](), &l.resource},
		{"instrumentationScope", reflect.TypeFor[instrumentation.Scope](), &l.scope},
	} {
		sf, ok := t.Elem().FieldByName(f.name)
		if !ok || sf.Type != f.typ || len(sf.Index) != 1 {
			return nil
		}
		*f.off = sf.Offset
	}
	var fast, slow spanData
	if !l.read(sp, &fast) {
		return nil
	}
	readSpan(sp, &slow)
	res, sc, _ := l.group(sp)
	if !reflect.DeepEqual(fast, slow) || res != sp.Resource() || sc != sp.InstrumentationScope() {
		return nil
	}
	return l
}

// group returns sp's resource and scope, and true when sp has the layout's type.
func (l *snapshotLayout) group(sp sdktrace.ReadOnlySpan) (*resource.Resource, instrumentation.Scope, bool) {
	if l == nil || reflect.TypeOf(sp) != l.typ {
		return nil, instrumentation.Scope{}, false
	}
	p := reflect.ValueOf(sp).UnsafePointer()
	return *at[*resource.Resource](p, l.resource), *at[instrumentation.Scope](p, l.scope), true
}

// read fills d from sp's fields and reports true when sp has the layout's type; a nil layout
// reads nothing.
func (l *snapshotLayout) read(sp sdktrace.ReadOnlySpan, d *spanData) bool {
	if l == nil || reflect.TypeOf(sp) != l.typ {
		return false
	}
	p := reflect.ValueOf(sp).UnsafePointer()
	*d = spanData{
		name:          *at[string](p, l.name),
		sc:            *at[trace.SpanContext](p, l.spanContext),
		parent:        *at[trace.SpanContext](p, l.parent),
		kind:          *at[trace.SpanKind](p, l.spanKind),
		start:         *at[time.Time](p, l.startTime),
		end:           *at[time.Time](p, l.endTime),
		attrs:         *at[[]attribute.KeyValue](p, l.attributes),
		events:        *at[[]sdktrace.Event](p, l.events),
		links:         *at[[]sdktrace.Link](p, l.links),
		status:        *at[sdktrace.Status](p, l.status),
		droppedAttrs:  *at[int](p, l.droppedAttributes),
		droppedEvents: *at[int](p, l.droppedEvents),
		droppedLinks:  *at[int](p, l.droppedLinks),
	}
	return true
}

// at is the field of type T at offset off of the struct at p.
func at[T any](p unsafe.Pointer, off uintptr) *T { return (*T)(unsafe.Add(p, off)) }
