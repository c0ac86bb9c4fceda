package otlpenc

import (
	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// Field numbers of opentelemetry/proto/logs/v1 and collector/logs/v1.
const (
	reqResourceLogs = 1
	rlScopeLogs     = 2
	slLogRecords    = 2

	lrTime         = 1
	lrSeverity     = 2
	lrSeverityText = 3
	lrBody         = 5
	lrAttrs        = 6
	lrDroppedAttrs = 7
	lrFlags        = 8
	lrTraceID      = 9
	lrSpanID       = 10
	lrObserved     = 11
	lrEventName    = 12
)

// LogEncoder encodes log records into ExportLogsServiceRequest bytes. One per goroutine.
type LogEncoder struct {
	g grouper
}

// AppendLogs appends the request holding recs to dst.
func (e *LogEncoder) AppendLogs(dst []byte, recs []sdklog.Record) []byte {
	for k := range recs {
		e.g.add(k, recs[k].Resource(), recs[k].InstrumentationScope())
	}
	w := buf{b: dst}
	e.g.write(&w, reqResourceLogs, rlScopeLogs, func(w *buf, k int) { w.logRecord(slLogRecords, &recs[k]) })
	return w.b
}

func (w *buf) logRecord(field int, r *sdklog.Record) {
	s := w.open(field)
	if t := r.Timestamp(); !t.IsZero() {
		w.fixed64Field(lrTime, unixNano(t.UnixNano()))
	}
	if sev := r.Severity(); sev > 0 {
		w.uvarintField(lrSeverity, uint64(sev))
	}
	w.stringField(lrSeverityText, r.SeverityText())
	if body := r.Body(); body.Type() != 0 {
		w.attrValue(lrBody, body)
	}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		e := w.open(lrAttrs)
		w.stringField(kvKey, string(kv.Key))
		w.attrValue(kvValue, kv.Value)
		w.close(e)
		return true
	})
	w.uvarintField(lrDroppedAttrs, clampUint32(r.DroppedAttributes()))
	w.fixed32Field(lrFlags, uint32(r.TraceFlags()))
	if tid := r.TraceID(); tid.IsValid() {
		w.bytesField(lrTraceID, tid[:])
	}
	if sid := r.SpanID(); sid.IsValid() {
		w.bytesField(lrSpanID, sid[:])
	}
	if t := r.ObservedTimestamp(); !t.IsZero() {
		w.fixed64Field(lrObserved, unixNano(t.UnixNano()))
	}
	w.stringField(lrEventName, r.EventName())
	w.close(s)
}
