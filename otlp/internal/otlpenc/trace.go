package otlpenc

import (
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Field numbers of opentelemetry/proto/trace/v1 and collector/trace/v1.
const (
	reqResourceSpans = 1

	rsScopeSpans = 2
	ssSpans      = 2

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

// TraceEncoder encodes spans into ExportTraceServiceRequest bytes. It keeps scratch space
// between calls: one encoder per goroutine.
type TraceEncoder struct {
	g grouper
}

// AppendSpans appends the request holding spans to dst. Spans are grouped by resource and
// instrumentation scope, in the order they first appear.
func (e *TraceEncoder) AppendSpans(dst []byte, spans []sdktrace.ReadOnlySpan) []byte {
	for k, sp := range spans {
		if sp != nil {
			e.g.add(k, sp.Resource(), sp.InstrumentationScope())
		}
	}
	w := buf{b: dst}
	e.g.write(&w, reqResourceSpans, rsScopeSpans, func(w *buf, k int) { w.span(ssSpans, spans[k]) })
	return w.b
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
