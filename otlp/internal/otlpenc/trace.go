package otlpenc

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
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
	g      grouper
	layout *snapshotLayout // nil: read spans through their methods
	probed bool            // layout was looked for
}

// AppendSpans appends the request holding spans to dst. Spans are grouped by resource and
// instrumentation scope, in the order they first appear.
func (e *TraceEncoder) AppendSpans(dst []byte, spans []sdktrace.ReadOnlySpan) []byte {
	for k, sp := range spans {
		if sp == nil {
			continue
		}
		if !e.probed {
			e.layout, e.probed = findSnapshotLayout(sp), true
		}
		if res, sc, ok := e.layout.group(sp); ok {
			e.g.add(k, res, sc)
		} else {
			e.g.add(k, sp.Resource(), sp.InstrumentationScope())
		}
	}
	return e.g.write(dst, reqResourceSpans, rsScopeSpans, func(b []byte, k int) []byte {
		var d spanData
		if !e.layout.read(spans[k], &d) {
			readSpan(spans[k], &d)
		}
		return appendSpan(b, ssSpans, &d)
	})
}

// spanData is what the encoder reads of a span.
type spanData struct {
	name                                      string
	sc, parent                                trace.SpanContext
	kind                                      trace.SpanKind
	start, end                                time.Time
	attrs                                     []attribute.KeyValue
	events                                    []sdktrace.Event
	links                                     []sdktrace.Link
	status                                    sdktrace.Status
	droppedAttrs, droppedEvents, droppedLinks int
}

// readSpan fills d through sp's methods.
func readSpan(sp sdktrace.ReadOnlySpan, d *spanData) {
	*d = spanData{
		name: sp.Name(), sc: sp.SpanContext(), parent: sp.Parent(), kind: sp.SpanKind(),
		start: sp.StartTime(), end: sp.EndTime(),
		attrs: sp.Attributes(), events: sp.Events(), links: sp.Links(), status: sp.Status(),
		droppedAttrs: sp.DroppedAttributes(), droppedEvents: sp.DroppedEvents(), droppedLinks: sp.DroppedLinks(),
	}
}

// appendSpan writes one Span message in field. Its length is reserved two bytes, the usual
// size of a span's.
func appendSpan(b []byte, field int, d *spanData) []byte {
	var s int
	b, s = appendOpenN(b, field, 2)
	tid, sid := d.sc.TraceID(), d.sc.SpanID()
	b = append(b, spTraceID<<3|wireLen, byte(len(tid)))
	b = append(b, tid[:]...)
	b = append(b, spSpanID<<3|wireLen, byte(len(sid)))
	b = append(b, sid[:]...)
	if ts := d.sc.TraceState(); ts.Len() > 0 {
		b = appendStringField(b, spTraceState, ts.String())
	}
	if psid := d.parent.SpanID(); psid.IsValid() {
		b = append(b, spParentSpanID<<3|wireLen, byte(len(psid)))
		b = append(b, psid[:]...)
	}
	b = appendStringField(b, spName, d.name)
	b = appendUvarintField(b, spKind, uint64(kind(d.kind)))
	b = appendFixed64Field(b, spStart, unixNano(d.start.UnixNano()))
	b = appendFixed64Field(b, spEnd, unixNano(d.end.UnixNano()))
	b = appendKeyValues(b, spAttrs, d.attrs)
	b = appendUvarintField(b, spDroppedAttrs, clampUint32(d.droppedAttrs))
	for i := range d.events {
		ev := &d.events[i]
		var e int
		b, e = appendOpen(b, spEvents)
		b = appendFixed64Field(b, evTime, unixNano(ev.Time.UnixNano()))
		b = appendStringField(b, evName, ev.Name)
		b = appendKeyValues(b, evAttrs, ev.Attributes)
		b = appendUvarintField(b, evDroppedAttrs, clampUint32(ev.DroppedAttributeCount))
		b = appendClose(b, e)
	}
	b = appendUvarintField(b, spDroppedEvts, clampUint32(d.droppedEvents))
	for i := range d.links {
		l := &d.links[i]
		var e int
		b, e = appendOpen(b, spLinks)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		b = appendBytesField(b, lkTraceID, ltid[:])
		b = appendBytesField(b, lkSpanID, lsid[:])
		if ts := l.SpanContext.TraceState(); ts.Len() > 0 {
			b = appendStringField(b, lkTraceState, ts.String())
		}
		b = appendKeyValues(b, lkAttrs, l.Attributes)
		b = appendUvarintField(b, lkDroppedAttrs, clampUint32(l.DroppedAttributeCount))
		b = appendFixed32Field(b, lkFlags, flags(l.SpanContext.TraceFlags(), l.SpanContext))
		b = appendClose(b, e)
	}
	b = appendUvarintField(b, spDroppedLinks, clampUint32(d.droppedLinks))
	// The official exporter always sends a status message, empty when unset.
	var ss int
	b, ss = appendOpen(b, spStatus)
	b = appendStringField(b, stMessage, d.status.Description)
	b = appendUvarintField(b, stCode, statusCode(d.status.Code))
	b = appendClose(b, ss)
	b = appendFixed32Field(b, spFlags, flags(d.sc.TraceFlags(), d.parent))
	return closeReserved(b, s, 2)
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
