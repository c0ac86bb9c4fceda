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
	return e.g.write(dst, reqResourceLogs, rlScopeLogs, func(b []byte, k int) []byte {
		return appendLogRecord(b, slLogRecords, &recs[k])
	})
}

func appendLogRecord(b []byte, field int, r *sdklog.Record) []byte {
	var s int
	b, s = appendOpenN(b, field, 2)
	if t := r.Timestamp(); !t.IsZero() {
		b = appendFixed64Field(b, lrTime, unixNano(t.UnixNano()))
	}
	if sev := r.Severity(); sev > 0 {
		b = appendUvarintField(b, lrSeverity, uint64(sev))
	}
	b = appendStringField(b, lrSeverityText, r.SeverityText())
	if body := r.Body(); body.Type() != 0 {
		b = appendValue(b, lrBody, body)
	}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		b = appendKeyValue(b, lrAttrs, &kv)
		return true
	})
	b = appendUvarintField(b, lrDroppedAttrs, clampUint32(r.DroppedAttributes()))
	b = appendFixed32Field(b, lrFlags, uint32(r.TraceFlags()))
	if tid := r.TraceID(); tid.IsValid() {
		b = appendBytesField(b, lrTraceID, tid[:])
	}
	if sid := r.SpanID(); sid.IsValid() {
		b = appendBytesField(b, lrSpanID, sid[:])
	}
	if t := r.ObservedTimestamp(); !t.IsZero() {
		b = appendFixed64Field(b, lrObserved, unixNano(t.UnixNano()))
	}
	b = appendStringField(b, lrEventName, r.EventName())
	return closeReserved(b, s, 2)
}
