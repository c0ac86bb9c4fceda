package otlpenc

import (
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Field numbers of opentelemetry/proto/trace/v1 and collector/trace/v1.
const (
	reqResourceSpans = 1

	rsResource   = 1
	rsScopeSpans = 2
	rsSchemaURL  = 3

	ssScope     = 1
	ssSpans     = 2
	ssSchemaURL = 3

	spTraceID      = 1
	spSpanID       = 2
	spTraceState   = 3
	spParentSpanID = 4
	spName         = 5
	spKind         = 6
	spStart        = 7
	spEnd          = 8
	spAttrs        = 9
	spDroppedAttrs = 10
	spEvents       = 11
	spDroppedEvts  = 12
	spLinks        = 13
	spDroppedLinks = 14
	spStatus       = 15
	spFlags        = 16

	evTime         = 1
	evName         = 2
	evAttrs        = 3
	evDroppedAttrs = 4

	lkTraceID      = 1
	lkSpanID       = 2
	lkTraceState   = 3
	lkAttrs        = 4
	lkDroppedAttrs = 5
	lkFlags        = 6

	stMessage = 2
	stCode    = 3

	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// group is the spans of one resource and scope, by index.
type group struct {
	res   *resource.Resource
	scope instrumentation.Scope
	idx   []int
}

// TraceEncoder encodes spans into ExportTraceServiceRequest bytes. It keeps scratch space
// between calls: one encoder per goroutine.
type TraceEncoder struct {
	groups []group
}

// AppendSpans appends the request holding spans to dst. Spans are grouped by resource and
// instrumentation scope, in the order they first appear.
func (e *TraceEncoder) AppendSpans(dst []byte, spans []sdktrace.ReadOnlySpan) []byte {
	e.groupSpans(spans)
	w := buf{b: dst}
	for i := range e.groups {
		g := &e.groups[i]
		if g.idx == nil {
			continue // written with an earlier group of the same resource
		}
		rs := w.open(reqResourceSpans)
		w.resource(rsResource, g.res)
		for j := i; j < len(e.groups); j++ {
			h := &e.groups[j]
			if h.idx == nil || h.res != g.res {
				continue
			}
			ss := w.open(rsScopeSpans)
			w.scope(ssScope, h.scope)
			for _, k := range h.idx {
				w.span(ssSpans, spans[k])
			}
			w.stringField(ssSchemaURL, h.scope.SchemaURL)
			w.close(ss)
			if j != i {
				h.idx = nil
			}
		}
		if g.res != nil {
			w.stringField(rsSchemaURL, g.res.SchemaURL())
		}
		w.close(rs)
		g.idx = nil
	}
	e.reset()
	return w.b
}

func (e *TraceEncoder) groupSpans(spans []sdktrace.ReadOnlySpan) {
	for k, sp := range spans {
		if sp == nil {
			continue
		}
		res, sc := sp.Resource(), sp.InstrumentationScope()
		found := false
		for i := range e.groups {
			g := &e.groups[i]
			if g.res == res && g.scope == sc {
				g.idx = append(g.idx, k)
				found = true
				break
			}
		}
		if !found {
			e.groups = append(e.groups, group{res: res, scope: sc, idx: []int{k}})
		}
	}
}

// reset forgets the groups but keeps small index slices for the next call.
func (e *TraceEncoder) reset() {
	if len(e.groups) > 8 {
		e.groups = nil
		return
	}
	e.groups = e.groups[:0]
}

func (w *buf) span(field int, sp sdktrace.ReadOnlySpan) {
	s := w.open(field)
	sc := sp.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	w.bytesField(spTraceID, tid[:])
	w.bytesField(spSpanID, sid[:])
	if ts := sc.TraceState(); ts.Len() > 0 {
		w.stringField(spTraceState, ts.String())
	}
	parent := sp.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		w.bytesField(spParentSpanID, psid[:])
	}
	w.stringField(spName, sp.Name())
	w.uvarintField(spKind, uint64(kind(sp.SpanKind())))
	w.fixed64Field(spStart, unixNano(sp.StartTime().UnixNano()))
	w.fixed64Field(spEnd, unixNano(sp.EndTime().UnixNano()))
	w.keyValues(spAttrs, sp.Attributes())
	w.uvarintField(spDroppedAttrs, clampUint32(sp.DroppedAttributes()))
	for _, ev := range sp.Events() {
		e := w.open(spEvents)
		w.fixed64Field(evTime, unixNano(ev.Time.UnixNano()))
		w.stringField(evName, ev.Name)
		w.keyValues(evAttrs, ev.Attributes)
		w.uvarintField(evDroppedAttrs, clampUint32(ev.DroppedAttributeCount))
		w.close(e)
	}
	w.uvarintField(spDroppedEvts, clampUint32(sp.DroppedEvents()))
	for _, l := range sp.Links() {
		e := w.open(spLinks)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		w.bytesField(lkTraceID, ltid[:])
		w.bytesField(lkSpanID, lsid[:])
		if ts := l.SpanContext.TraceState(); ts.Len() > 0 {
			w.stringField(lkTraceState, ts.String())
		}
		w.keyValues(lkAttrs, l.Attributes)
		w.uvarintField(lkDroppedAttrs, clampUint32(l.DroppedAttributeCount))
		w.fixed32Field(lkFlags, flags(l.SpanContext.TraceFlags(), l.SpanContext))
		w.close(e)
	}
	w.uvarintField(spDroppedLinks, clampUint32(sp.DroppedLinks()))
	// The official exporter always sends a status message, empty when unset.
	st := sp.Status()
	ss := w.open(spStatus)
	w.stringField(stMessage, st.Description)
	w.uvarintField(stCode, statusCode(st.Code))
	w.close(ss)
	w.fixed32Field(spFlags, flags(sc.TraceFlags(), parent))
	w.close(s)
}

// kind maps the API's span kind to OTLP's (the same numbers; unknown values are unspecified).
func kind(k trace.SpanKind) int {
	if k < trace.SpanKindInternal || k > trace.SpanKindConsumer {
		return 0
	}
	return int(k)
}

func statusCode(c codes.Code) uint64 {
	switch c {
	case codes.Ok:
		return 1
	case codes.Error:
		return 2
	}
	return 0
}

// flags are the W3C trace flags plus whether the parent (or linked span) is remote.
func flags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	f := uint32(tf) | flagHasIsRemote
	if parent.IsRemote() {
		f |= flagIsRemote
	}
	return f
}

func unixNano(n int64) uint64 { return uint64(max(0, n)) }
