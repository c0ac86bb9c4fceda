package otlpwire

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// shape says how big a generated request is.
type shape struct {
	resources, scopes, items, attrs int
	invalidEvery                    int // every n-th span gets a zero trace_id (0: none)
}

func randID(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[0] |= 1 // never all zeros
}

func putAttrs(r *rand.Rand, m pcommon.Map, n int) {
	for i := range n {
		k := fmt.Sprintf("attr.%d", i)
		switch i % 5 {
		case 0:
			m.PutStr(k, fmt.Sprintf("value-%d", r.IntN(1000)))
		case 1:
			m.PutInt(k, r.Int64())
		case 2:
			m.PutDouble(k, r.Float64())
		case 3:
			m.PutBool(k, r.IntN(2) == 0)
		case 4:
			s := m.PutEmptySlice(k)
			s.AppendEmpty().SetStr("nested")
			s.AppendEmpty().SetEmptyMap().PutInt("deep", 7)
		}
	}
}

func genTraces(seed uint64, sh shape) ptrace.Traces {
	r := rand.New(rand.NewPCG(seed, 1))
	td := ptrace.NewTraces()
	n := 0
	for i := range sh.resources {
		rs := td.ResourceSpans().AppendEmpty()
		rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", i))
		putAttrs(r, rs.Resource().Attributes(), sh.attrs/2)
		for j := range sh.scopes {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(fmt.Sprintf("scope-%d", j))
			ss.Scope().SetVersion("v1.2.3")
			ss.SetSchemaUrl("https://example.com/scope")
			for range sh.items {
				sp := ss.Spans().AppendEmpty()
				var tid pcommon.TraceID
				var sid, pid pcommon.SpanID
				randID(r, tid[:])
				randID(r, sid[:])
				randID(r, pid[:])
				n++
				if sh.invalidEvery > 0 && n%sh.invalidEvery == 0 {
					tid = pcommon.TraceID{}
				}
				sp.SetTraceID(tid)
				sp.SetSpanID(sid)
				sp.SetParentSpanID(pid)
				sp.SetName(fmt.Sprintf("span-%d", n))
				sp.SetKind(ptrace.SpanKindServer)
				sp.SetStartTimestamp(pcommon.Timestamp(r.Uint64()))
				sp.SetEndTimestamp(pcommon.Timestamp(r.Uint64()))
				sp.SetFlags(1)
				putAttrs(r, sp.Attributes(), sh.attrs)
				if n%3 == 0 {
					ev := sp.Events().AppendEmpty()
					ev.SetName("event")
					ev.Attributes().PutStr("e", "v")
					ln := sp.Links().AppendEmpty()
					var lt pcommon.TraceID
					var ls pcommon.SpanID
					randID(r, lt[:])
					randID(r, ls[:])
					ln.SetTraceID(lt)
					ln.SetSpanID(ls)
					sp.Status().SetCode(ptrace.StatusCodeError)
					sp.Status().SetMessage("boom")
				}
			}
		}
	}
	return td
}

func genMetrics(seed uint64, sh shape) pmetric.Metrics {
	r := rand.New(rand.NewPCG(seed, 2))
	md := pmetric.NewMetrics()
	for i := range sh.resources {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", i))
		for j := range sh.scopes {
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(fmt.Sprintf("scope-%d", j))
			for k := range sh.items {
				m := sm.Metrics().AppendEmpty()
				m.SetName(fmt.Sprintf("metric.%d", k))
				m.SetUnit("1")
				points := 1 + r.IntN(3)
				switch k % 5 {
				case 0:
					g := m.SetEmptyGauge()
					for range points {
						dp := g.DataPoints().AppendEmpty()
						dp.SetDoubleValue(r.Float64())
						putAttrs(r, dp.Attributes(), sh.attrs)
						ex := dp.Exemplars().AppendEmpty()
						var tid pcommon.TraceID
						var sid pcommon.SpanID
						randID(r, tid[:])
						randID(r, sid[:])
						ex.SetTraceID(tid)
						ex.SetSpanID(sid)
						ex.SetIntValue(3)
					}
				case 1:
					s := m.SetEmptySum()
					s.SetIsMonotonic(true)
					s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
					for range points {
						dp := s.DataPoints().AppendEmpty()
						dp.SetIntValue(r.Int64())
						putAttrs(r, dp.Attributes(), sh.attrs)
					}
				case 2:
					h := m.SetEmptyHistogram()
					for range points {
						dp := h.DataPoints().AppendEmpty()
						dp.SetCount(10)
						dp.SetSum(3.5)
						dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4})
						dp.ExplicitBounds().FromRaw([]float64{1, 5, 10})
						dp.SetMin(0.5)
						dp.SetMax(20)
					}
				case 3:
					h := m.SetEmptyExponentialHistogram()
					for range points {
						dp := h.DataPoints().AppendEmpty()
						dp.SetScale(-3)
						dp.SetZeroCount(2)
						dp.Positive().SetOffset(-2)
						dp.Positive().BucketCounts().FromRaw([]uint64{1, 300, 70000})
						dp.Negative().BucketCounts().FromRaw([]uint64{5})
					}
				case 4:
					s := m.SetEmptySummary()
					for range points {
						dp := s.DataPoints().AppendEmpty()
						dp.SetCount(4)
						q := dp.QuantileValues().AppendEmpty()
						q.SetQuantile(0.99)
						q.SetValue(12)
					}
				}
			}
		}
	}
	return md
}

func genLogs(seed uint64, sh shape) plog.Logs {
	r := rand.New(rand.NewPCG(seed, 3))
	ld := plog.NewLogs()
	for i := range sh.resources {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", i))
		for j := range sh.scopes {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(fmt.Sprintf("scope-%d", j))
			for k := range sh.items {
				lr := sl.LogRecords().AppendEmpty()
				lr.Body().SetStr(fmt.Sprintf("log line %d", k))
				lr.SetSeverityNumber(plog.SeverityNumberWarn)
				lr.SetTimestamp(pcommon.Timestamp(r.Uint64()))
				putAttrs(r, lr.Attributes(), sh.attrs)
				if k%2 == 0 {
					var tid pcommon.TraceID
					var sid pcommon.SpanID
					randID(r, tid[:])
					randID(r, sid[:])
					lr.SetTraceID(tid)
					lr.SetSpanID(sid)
				}
			}
		}
	}
	return ld
}

func mustMarshal(t testing.TB, m interface{ MarshalProto() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encodeTraces(t testing.TB, td ptrace.Traces) []byte {
	return mustMarshal(t, ptraceotlp.NewExportRequestFromTraces(td))
}

func encodeMetrics(t testing.TB, md pmetric.Metrics) []byte {
	return mustMarshal(t, pmetricotlp.NewExportRequestFromMetrics(md))
}

func encodeLogs(t testing.TB, ld plog.Logs) []byte {
	return mustMarshal(t, plogotlp.NewExportRequestFromLogs(ld))
}

func gen(t testing.TB, sig pipeline.Signal, seed uint64, sh shape) []byte {
	switch sig {
	case pipeline.SignalTraces:
		return encodeTraces(t, genTraces(seed, sh))
	case pipeline.SignalMetrics:
		return encodeMetrics(t, genMetrics(seed, sh))
	}
	return encodeLogs(t, genLogs(seed, sh))
}

// decoded is what pdata makes of a body.
type decoded struct {
	items, invalid, resources, scopes, msgs int
	flat                                    []string // one self-contained request per item message
	flatValid                               []string // the same without invalid spans
}

// pdataDecode decodes body with pdata and flattens it: each item message becomes a request of
// its own holding a copy of its resource and scope, so that two bodies can be compared for
// "same data" whatever their grouping.
func pdataDecode(sig pipeline.Signal, body []byte) (decoded, error) {
	var d decoded
	switch sig {
	case pipeline.SignalTraces:
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return d, err
		}
		td := req.Traces()
		d.items = td.SpanCount()
		d.resources = td.ResourceSpans().Len()
		m := ptrace.ProtoMarshaler{}
		for _, rs := range td.ResourceSpans().All() {
			d.scopes += rs.ScopeSpans().Len()
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					one := ptrace.NewTraces()
					ors := one.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(ors.Resource())
					ors.SetSchemaUrl(rs.SchemaUrl())
					oss := ors.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(oss.Scope())
					oss.SetSchemaUrl(ss.SchemaUrl())
					sp.CopyTo(oss.Spans().AppendEmpty())
					b, err := m.MarshalTraces(one)
					if err != nil {
						return d, err
					}
					d.flat = append(d.flat, string(b))
					if sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() {
						d.invalid++
					} else {
						d.flatValid = append(d.flatValid, string(b))
					}
					d.msgs++
				}
			}
		}
	case pipeline.SignalMetrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return d, err
		}
		md := req.Metrics()
		d.items = md.DataPointCount()
		d.resources = md.ResourceMetrics().Len()
		m := pmetric.ProtoMarshaler{}
		for _, rm := range md.ResourceMetrics().All() {
			d.scopes += rm.ScopeMetrics().Len()
			for _, sm := range rm.ScopeMetrics().All() {
				for _, mt := range sm.Metrics().All() {
					one := pmetric.NewMetrics()
					orm := one.ResourceMetrics().AppendEmpty()
					rm.Resource().CopyTo(orm.Resource())
					orm.SetSchemaUrl(rm.SchemaUrl())
					osm := orm.ScopeMetrics().AppendEmpty()
					sm.Scope().CopyTo(osm.Scope())
					osm.SetSchemaUrl(sm.SchemaUrl())
					mt.CopyTo(osm.Metrics().AppendEmpty())
					b, err := m.MarshalMetrics(one)
					if err != nil {
						return d, err
					}
					d.flat = append(d.flat, string(b))
					d.msgs++
				}
			}
		}
		d.flatValid = d.flat
	default:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return d, err
		}
		ld := req.Logs()
		d.items = ld.LogRecordCount()
		d.resources = ld.ResourceLogs().Len()
		m := plog.ProtoMarshaler{}
		for _, rl := range ld.ResourceLogs().All() {
			d.scopes += rl.ScopeLogs().Len()
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					one := plog.NewLogs()
					orl := one.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(orl.Resource())
					orl.SetSchemaUrl(rl.SchemaUrl())
					osl := orl.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(osl.Scope())
					osl.SetSchemaUrl(sl.SchemaUrl())
					lr.CopyTo(osl.LogRecords().AppendEmpty())
					b, err := m.MarshalLogs(one)
					if err != nil {
						return d, err
					}
					d.flat = append(d.flat, string(b))
					d.msgs++
				}
			}
		}
		d.flatValid = d.flat
	}
	return d, nil
}

// checkBody is the differential property every body must satisfy: Scan never panics; when it
// accepts, pdata accepts too with the same counts; DropInvalid and Split then keep exactly the
// data they should, and Split's parts respect the limits.
func checkBody(t *testing.T, sig pipeline.Signal, body []byte, maxItems, maxBytes int) {
	t.Helper()
	orig := slices.Clone(body)
	sum, err := Scan(sig, body)
	if err != nil {
		if err2 := Split(sig, body, maxItems, maxBytes, func([]byte, int) error {
			t.Fatal("Split emitted a part of a body Scan rejects")
			return nil
		}); err2 == nil {
			t.Fatalf("Split accepted a body Scan rejects (%v)", err)
		}
		return
	}
	want, err := pdataDecode(sig, body)
	if err != nil {
		t.Fatalf("Scan accepted a body pdata rejects: %v (body %x)", err, body)
	}
	if sum.Items != want.items || sum.Invalid != want.invalid || sum.Resources != want.resources || sum.Scopes != want.scopes {
		t.Fatalf("Scan = %+v, pdata: items %d invalid %d resources %d scopes %d", sum, want.items, want.invalid, want.resources, want.scopes)
	}

	out, dropped, err := DropInvalid(sig, body, nil)
	if err != nil {
		t.Fatalf("DropInvalid: %v", err)
	}
	if dropped != sum.Invalid {
		t.Fatalf("DropInvalid dropped %d, want %d", dropped, sum.Invalid)
	}
	got, err := pdataDecode(sig, out)
	if err != nil {
		t.Fatalf("DropInvalid output does not decode: %v", err)
	}
	if got.invalid != 0 || !slices.Equal(got.flat, want.flatValid) {
		t.Fatalf("DropInvalid changed the valid data: %d items, want %d", len(got.flat), len(want.flatValid))
	}
	if sum2, err := Scan(sig, out); err != nil || sum2.Invalid != 0 || sum2.Items != sum.Items-dropped {
		t.Fatalf("Scan(DropInvalid output) = %+v, %v", sum2, err)
	}

	var all []byte
	parts := 0
	err = Split(sig, body, maxItems, maxBytes, func(part []byte, items int) error {
		parts++
		d, err := pdataDecode(sig, part)
		if err != nil {
			t.Fatalf("part %d does not decode: %v", parts, err)
		}
		if d.items != items {
			t.Fatalf("part %d: emit says %d items, pdata counts %d", parts, items, d.items)
		}
		if d.msgs == 0 {
			t.Fatalf("part %d is empty", parts)
		}
		if d.msgs > 1 {
			if maxItems > 0 && items > maxItems {
				t.Fatalf("part %d: %d items > max %d", parts, items, maxItems)
			}
			if maxBytes > 0 && len(part) > maxBytes {
				t.Fatalf("part %d: %d bytes > max %d", parts, len(part), maxBytes)
			}
		}
		all = append(all, part...)
		return nil
	})
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	got, err = pdataDecode(sig, all)
	if err != nil {
		t.Fatalf("concatenated parts do not decode: %v", err)
	}
	if got.items != sum.Items || !slices.Equal(got.flat, want.flat) {
		t.Fatalf("Split changed the data: %d items in %d messages, want %d in %d", got.items, len(got.flat), sum.Items, len(want.flat))
	}
	if !slices.Equal(body, orig) {
		t.Fatal("body was modified")
	}
}

// A tiny protobuf encoder for hand-made bodies.

func tag(num, wt int) []byte { return appendVarint(nil, uint64(num)<<3|uint64(wt)) }

func fVarint(num int, v uint64) []byte { return appendVarint(tag(num, wtVarint), v) }

func fFixed64(num int, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(tag(num, wtI64), v)
}

func fFixed32(num int, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(tag(num, wtI32), v)
}

func fBytes(num int, v []byte) []byte {
	b := appendVarint(tag(num, wtLen), uint64(len(v)))
	return append(b, v...)
}

func fMsg(num int, fields ...[]byte) []byte { return fBytes(num, slices.Concat(fields...)) }

func id(n int, fill byte) []byte { return slices.Repeat([]byte{fill}, n) }

// spanMsg is a span with the given ids (nil: absent) and extra fields.
func spanMsg(traceID, spanID []byte, extra ...[]byte) []byte {
	var fs [][]byte
	if traceID != nil {
		fs = append(fs, fBytes(1, traceID))
	}
	if spanID != nil {
		fs = append(fs, fBytes(2, spanID))
	}
	fs = append(fs, fBytes(5, []byte("op")))
	return fMsg(2, append(fs, extra...)...)
}

// tracesReq wraps scopes (each a list of span fields) into one resource.
func tracesReq(scopes ...[][]byte) []byte {
	var rs [][]byte
	rs = append(rs, fMsg(1, fMsg(1, fBytes(1, []byte("service.name")), fMsg(2, fBytes(1, []byte("svc"))))))
	for i, spans := range scopes {
		rs = append(rs, fMsg(2, append([][]byte{fMsg(1, fBytes(1, fmt.Appendf(nil, "scope-%d", i)))}, spans...)...))
	}
	return fMsg(1, rs...)
}
