// Package testutil provides real OTLP servers for tests (Sink collects what arrives,
// FlakyServer fails on command), throwaway certificates, and generators of test telemetry.
package testutil

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// SpanID returns the id Traces gives its n-th span (counting from 0 across calls with the
// same first).
func SpanID(n int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], uint64(n)+1)
	return id
}

func traceID(n int) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], 0x0102030405060708)
	binary.BigEndian.PutUint64(id[8:], uint64(n)+1)
	return id
}

// Traces builds resources×spansPer spans with distinct ids starting at SpanID(first), each
// with resource, scope, attributes, an event, a link and a status.
func Traces(resources, spansPer, first int) ptrace.Traces {
	td := ptrace.NewTraces()
	n := first
	for r := range resources {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		rs.Resource().Attributes().PutInt("host.index", int64(r))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("otlp.test")
		ss.Scope().SetVersion("1.0.0")
		ss.Scope().Attributes().PutBool("test", true)
		for range spansPer {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(traceID(n / 8))
			s.SetSpanID(SpanID(n))
			if n%8 != 0 {
				s.SetParentSpanID(SpanID(n - n%8))
			}
			s.SetName(fmt.Sprintf("op-%d", n%16))
			s.SetKind(ptrace.SpanKindServer)
			start := epoch.Add(time.Duration(n) * time.Millisecond)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(1500 * time.Microsecond)))
			a := s.Attributes()
			a.PutStr("http.request.method", "GET")
			a.PutStr("url.path", fmt.Sprintf("/items/%d", n))
			a.PutInt("http.response.status_code", 200)
			a.PutDouble("ratio", float64(n)/3)
			a.PutBool("cached", n%2 == 0)
			ev := s.Events().AppendEmpty()
			ev.SetName("event")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
			ev.Attributes().PutStr("k", "v")
			l := s.Links().AppendEmpty()
			l.SetTraceID(traceID(n + 1000))
			l.SetSpanID(SpanID(n + 1000))
			s.Status().SetCode(ptrace.StatusCodeOk)
			n++
		}
	}
	return td
}

// Metrics builds resources×pointsPer gauge and sum data points; point values are first, first+1, ….
func Metrics(resources, pointsPer, first int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	n := first
	for r := range resources {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("otlp.test")
		g := sm.Metrics().AppendEmpty()
		g.SetName("test.gauge")
		g.SetUnit("1")
		gauge := g.SetEmptyGauge()
		for i := range pointsPer {
			dp := gauge.DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(epoch.Add(time.Duration(n) * time.Second)))
			dp.SetIntValue(int64(n))
			dp.Attributes().PutInt("i", int64(i))
			n++
		}
	}
	return md
}

// Logs builds resources×recordsPer log records with bodies "log first", "log first+1", ….
func Logs(resources, recordsPer, first int) plog.Logs {
	ld := plog.NewLogs()
	n := first
	for r := range resources {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("otlp.test")
		for range recordsPer {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(epoch.Add(time.Duration(n) * time.Millisecond)))
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
			lr.Body().SetStr(fmt.Sprintf("log %d", n))
			lr.Attributes().PutInt("n", int64(n))
			lr.SetTraceID(traceID(n))
			lr.SetSpanID(SpanID(n))
			n++
		}
	}
	return ld
}

// TracesBatch encodes td as a pipeline batch.
func TracesBatch(td ptrace.Traces) pipeline.Batch {
	body, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	return pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: td.SpanCount()}
}

// MetricsBatch encodes md as a pipeline batch.
func MetricsBatch(md pmetric.Metrics) pipeline.Batch {
	body, _ := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	return pipeline.Batch{Signal: pipeline.SignalMetrics, Body: body, Items: md.DataPointCount()}
}

// LogsBatch encodes ld as a pipeline batch.
func LogsBatch(ld plog.Logs) pipeline.Batch {
	body, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	return pipeline.Batch{Signal: pipeline.SignalLogs, Body: body, Items: ld.LogRecordCount()}
}
