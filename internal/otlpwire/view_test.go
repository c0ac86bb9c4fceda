package otlpwire

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// The view is checked against pdata by rendering what each reads from the same bytes into
// one text form and comparing.

type dump struct{ strings.Builder }

func (d *dump) f(format string, args ...any) { fmt.Fprintf(&d.Builder, format, args...) }

// id renders an id; all zeros and empty are the same (pdata cannot tell them apart).
func idText(b []byte) string {
	if len(b) == 0 || allZero(b) {
		return "-"
	}
	return hex.EncodeToString(b)
}

func dbl(v float64) string { return fmt.Sprintf("%x", math.Float64bits(v)) }

// --- the view ---

func (d *dump) viewValue(v Value) {
	switch v.Type() {
	case ValueStr:
		d.f("s%q", v.Str())
	case ValueBool:
		d.f("b%v", v.Bool())
	case ValueInt:
		d.f("i%d", v.Int())
	case ValueDouble:
		d.f("d%s", dbl(v.Double()))
	case ValueBytes:
		d.f("y%x", v.Bytes())
	case ValueArray:
		d.f("[")
		vs := v.Slice()
		for vs.Next() {
			d.viewValue(vs.Value())
			d.f(",")
		}
		d.f("]")
	case ValueMap:
		d.viewAttrs(v.Map())
	default:
		d.f("empty")
	}
}

func (d *dump) viewAttrs(a Attributes) {
	d.f("{")
	for a.Next() {
		d.f("%q:", a.Key())
		d.viewValue(a.Value())
		d.f(",")
	}
	d.f("}")
}

func (d *dump) viewUints(u Uint64s) {
	d.f("[")
	for v, ok := u.Next(); ok; v, ok = u.Next() {
		d.f("%d,", v)
	}
	d.f("]")
}

func (d *dump) viewFloats(u Float64s) {
	d.f("[")
	for v, ok := u.Next(); ok; v, ok = u.Next() {
		d.f("%s,", dbl(v))
	}
	d.f("]")
}

func viewDump(sig pipeline.Signal, body []byte) string {
	var d dump
	rs := ReadResources(sig, body)
	for rs.Next() {
		r := rs.Resource()
		d.f("R %q dropped=%d ", rs.SchemaURL(), r.DroppedAttributesCount())
		d.viewAttrs(r.Attributes())
		d.f("\n")
		scopes := rs.Scopes()
		for scopes.Next() {
			sc := scopes.Scope()
			d.f(" S %q %q %q ", sc.Name(), sc.Version(), scopes.SchemaURL())
			d.viewAttrs(sc.Attributes())
			d.f("\n")
			switch sig {
			case pipeline.SignalTraces:
				spans := scopes.Spans()
				for spans.Next() {
					d.viewSpan(spans.Span())
				}
			case pipeline.SignalMetrics:
				ms := scopes.Metrics()
				for ms.Next() {
					d.viewMetric(ms.Metric())
				}
			case pipeline.SignalLogs:
				ls := scopes.LogRecords()
				for ls.Next() {
					d.viewLog(ls.LogRecord())
				}
			}
		}
	}
	return d.String()
}

func (d *dump) viewSpan(sp Span) {
	code, msg := sp.Status()
	d.f("  T %s %s %q %s %q kind=%d %d-%d dropped=%d status=%d/%q flags=%d ", idText(sp.TraceID()), idText(sp.SpanID()),
		sp.TraceState(), idText(sp.ParentSpanID()), sp.Name(), sp.Kind(), sp.StartTime(), sp.EndTime(),
		sp.DroppedAttributesCount(), code, msg, sp.Flags())
	d.viewAttrs(sp.Attributes())
	evs := sp.Events()
	for evs.Next() {
		e := evs.Event()
		d.f(" E %d %q ", e.Time(), e.Name())
		d.viewAttrs(e.Attributes())
	}
	ls := sp.Links()
	for ls.Next() {
		l := ls.Link()
		d.f(" L %s %s ", idText(l.TraceID()), idText(l.SpanID()))
		d.viewAttrs(l.Attributes())
	}
	d.f("\n")
}

func (d *dump) viewMetric(m Metric) {
	d.f("  M %q %q %q %s temp=%d mono=%v\n", m.Name(), m.Description(), m.Unit(), m.Type(), m.Temporality(), m.Monotonic())
	ps := m.Points()
	for ps.Next() {
		p := ps.Point()
		d.f("   P %d-%d flags=%d ", p.StartTime(), p.Time(), p.Flags())
		d.viewAttrs(p.Attributes())
		switch m.Type() {
		case MetricGauge, MetricSum:
			typ, i, v := p.Number()
			d.f(" n=%d/%d/%s", typ, i, dbl(v))
		case MetricHistogram, MetricExponentialHistogram, MetricSummary:
			sum, hasSum := p.Sum()
			mn, hasMin := p.Min()
			mx, hasMax := p.Max()
			d.f(" c=%d sum=%v/%s min=%v/%s max=%v/%s", p.Count(), hasSum, dbl(sum), hasMin, dbl(mn), hasMax, dbl(mx))
		}
		switch m.Type() {
		case MetricHistogram:
			d.f(" b=")
			d.viewUints(p.BucketCounts())
			d.viewFloats(p.ExplicitBounds())
		case MetricExponentialHistogram:
			d.f(" scale=%d zc=%d zt=%s +%d", p.Scale(), p.ZeroCount(), dbl(p.ZeroThreshold()), p.Positive().Offset())
			d.viewUints(p.Positive().Counts())
			d.f(" -%d", p.Negative().Offset())
			d.viewUints(p.Negative().Counts())
		case MetricSummary:
			qs := p.Quantiles()
			for qs.Next() {
				q, v := qs.Quantile()
				d.f(" q%s=%s", dbl(q), dbl(v))
			}
		}
		d.f("\n")
	}
}

func (d *dump) viewLog(l LogRecord) {
	d.f("  L %d %d sev=%d %q dropped=%d flags=%d %s %s %q ", l.Time(), l.ObservedTime(), l.SeverityNumber(), l.SeverityText(),
		l.DroppedAttributesCount(), l.Flags(), idText(l.TraceID()), idText(l.SpanID()), l.EventName())
	d.viewValue(l.Body())
	d.f(" ")
	d.viewAttrs(l.Attributes())
	d.f("\n")
}

// --- pdata ---

func (d *dump) pValue(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		d.f("s%q", v.Str())
	case pcommon.ValueTypeBool:
		d.f("b%v", v.Bool())
	case pcommon.ValueTypeInt:
		d.f("i%d", v.Int())
	case pcommon.ValueTypeDouble:
		d.f("d%s", dbl(v.Double()))
	case pcommon.ValueTypeBytes:
		d.f("y%x", v.Bytes().AsRaw())
	case pcommon.ValueTypeSlice:
		d.f("[")
		for _, e := range v.Slice().All() {
			d.pValue(e)
			d.f(",")
		}
		d.f("]")
	case pcommon.ValueTypeMap:
		d.pAttrs(v.Map())
	default:
		d.f("empty")
	}
}

func (d *dump) pAttrs(m pcommon.Map) {
	d.f("{")
	for k, v := range m.All() {
		d.f("%q:", k)
		d.pValue(v)
		d.f(",")
	}
	d.f("}")
}

func (d *dump) pUints(u []uint64) {
	d.f("[")
	for _, v := range u {
		d.f("%d,", v)
	}
	d.f("]")
}

func (d *dump) pFloats(u []float64) {
	d.f("[")
	for _, v := range u {
		d.f("%s,", dbl(v))
	}
	d.f("]")
}

func (d *dump) pResource(schema string, r pcommon.Resource) {
	d.f("R %q dropped=%d ", schema, r.DroppedAttributesCount())
	d.pAttrs(r.Attributes())
	d.f("\n")
}

func (d *dump) pScope(sc pcommon.InstrumentationScope, schema string) {
	d.f(" S %q %q %q ", sc.Name(), sc.Version(), schema)
	d.pAttrs(sc.Attributes())
	d.f("\n")
}

// pdataDump renders what pdata decodes as the Collector's receivers do (through the export
// request, which migrates deprecated scopes); false when pdata refuses the bytes.
func pdataDump(sig pipeline.Signal, body []byte) (string, bool) {
	var d dump
	switch sig {
	case pipeline.SignalTraces:
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return "", false
		}
		td := req.Traces()
		for _, rs := range td.ResourceSpans().All() {
			d.pResource(rs.SchemaUrl(), rs.Resource())
			for _, ss := range rs.ScopeSpans().All() {
				d.pScope(ss.Scope(), ss.SchemaUrl())
				for _, sp := range ss.Spans().All() {
					tid, sid, pid := sp.TraceID(), sp.SpanID(), sp.ParentSpanID()
					d.f("  T %s %s %q %s %q kind=%d %d-%d dropped=%d status=%d/%q flags=%d ", idText(tid[:]), idText(sid[:]),
						sp.TraceState().AsRaw(), idText(pid[:]), sp.Name(), sp.Kind(), sp.StartTimestamp(), sp.EndTimestamp(),
						sp.DroppedAttributesCount(), sp.Status().Code(), sp.Status().Message(), sp.Flags())
					d.pAttrs(sp.Attributes())
					for _, e := range sp.Events().All() {
						d.f(" E %d %q ", e.Timestamp(), e.Name())
						d.pAttrs(e.Attributes())
					}
					for _, l := range sp.Links().All() {
						lt, ls := l.TraceID(), l.SpanID()
						d.f(" L %s %s ", idText(lt[:]), idText(ls[:]))
						d.pAttrs(l.Attributes())
					}
					d.f("\n")
				}
			}
		}
	case pipeline.SignalMetrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return "", false
		}
		md := req.Metrics()
		for _, rm := range md.ResourceMetrics().All() {
			d.pResource(rm.SchemaUrl(), rm.Resource())
			for _, sm := range rm.ScopeMetrics().All() {
				d.pScope(sm.Scope(), sm.SchemaUrl())
				for _, m := range sm.Metrics().All() {
					d.pMetric(m)
				}
			}
		}
	case pipeline.SignalLogs:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return "", false
		}
		ld := req.Logs()
		for _, rl := range ld.ResourceLogs().All() {
			d.pResource(rl.SchemaUrl(), rl.Resource())
			for _, sl := range rl.ScopeLogs().All() {
				d.pScope(sl.Scope(), sl.SchemaUrl())
				for _, l := range sl.LogRecords().All() {
					tid, sid := l.TraceID(), l.SpanID()
					d.f("  L %d %d sev=%d %q dropped=%d flags=%d %s %s %q ", l.Timestamp(), l.ObservedTimestamp(), l.SeverityNumber(),
						l.SeverityText(), l.DroppedAttributesCount(), l.Flags(), idText(tid[:]), idText(sid[:]), l.EventName())
					d.pValue(l.Body())
					d.f(" ")
					d.pAttrs(l.Attributes())
					d.f("\n")
				}
			}
		}
	}
	return d.String(), true
}

var pTypes = map[pmetric.MetricType]MetricType{
	pmetric.MetricTypeEmpty: MetricEmpty, pmetric.MetricTypeGauge: MetricGauge, pmetric.MetricTypeSum: MetricSum,
	pmetric.MetricTypeHistogram: MetricHistogram, pmetric.MetricTypeExponentialHistogram: MetricExponentialHistogram,
	pmetric.MetricTypeSummary: MetricSummary,
}

func (d *dump) pMetric(m pmetric.Metric) {
	typ := pTypes[m.Type()]
	temp, mono := int32(0), false
	switch m.Type() {
	case pmetric.MetricTypeSum:
		temp, mono = int32(m.Sum().AggregationTemporality()), m.Sum().IsMonotonic()
	case pmetric.MetricTypeHistogram:
		temp = int32(m.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		temp = int32(m.ExponentialHistogram().AggregationTemporality())
	}
	d.f("  M %q %q %q %s temp=%d mono=%v\n", m.Name(), m.Description(), m.Unit(), typ, temp, mono)
	number := func(dp pmetric.NumberDataPoint) {
		d.f("   P %d-%d flags=%d ", dp.StartTimestamp(), dp.Timestamp(), dp.Flags())
		d.pAttrs(dp.Attributes())
		var nt NumberType
		var i int64
		var v float64
		switch dp.ValueType() {
		case pmetric.NumberDataPointValueTypeInt:
			nt, i = NumberInt, dp.IntValue()
		case pmetric.NumberDataPointValueTypeDouble:
			nt, v = NumberDouble, dp.DoubleValue()
		}
		d.f(" n=%d/%d/%s\n", nt, i, dbl(v))
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			number(dp)
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			number(dp)
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			d.f("   P %d-%d flags=%d ", dp.StartTimestamp(), dp.Timestamp(), dp.Flags())
			d.pAttrs(dp.Attributes())
			d.f(" c=%d sum=%v/%s min=%v/%s max=%v/%s", dp.Count(), dp.HasSum(), dbl(dp.Sum()), dp.HasMin(), dbl(dp.Min()), dp.HasMax(), dbl(dp.Max()))
			d.f(" b=")
			d.pUints(dp.BucketCounts().AsRaw())
			d.pFloats(dp.ExplicitBounds().AsRaw())
			d.f("\n")
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			d.f("   P %d-%d flags=%d ", dp.StartTimestamp(), dp.Timestamp(), dp.Flags())
			d.pAttrs(dp.Attributes())
			d.f(" c=%d sum=%v/%s min=%v/%s max=%v/%s", dp.Count(), dp.HasSum(), dbl(dp.Sum()), dp.HasMin(), dbl(dp.Min()), dp.HasMax(), dbl(dp.Max()))
			d.f(" scale=%d zc=%d zt=%s +%d", dp.Scale(), dp.ZeroCount(), dbl(dp.ZeroThreshold()), dp.Positive().Offset())
			d.pUints(dp.Positive().BucketCounts().AsRaw())
			d.f(" -%d", dp.Negative().Offset())
			d.pUints(dp.Negative().BucketCounts().AsRaw())
			d.f("\n")
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			d.f("   P %d-%d flags=%d ", dp.StartTimestamp(), dp.Timestamp(), dp.Flags())
			d.pAttrs(dp.Attributes())
			d.f(" c=%d sum=%v/%s min=%v/%s max=%v/%s", dp.Count(), true, dbl(dp.Sum()), false, dbl(0), false, dbl(0))
			for _, q := range dp.QuantileValues().All() {
				d.f(" q%s=%s", dbl(q.Quantile()), dbl(q.Value()))
			}
			d.f("\n")
		}
	}
}

// checkView compares the view with pdata on body when Scan accepts it (what the view reads
// in a pipeline); other bytes only must not panic.
func checkView(t *testing.T, sig pipeline.Signal, body []byte) {
	t.Helper()
	got := viewDump(sig, body)
	want, ok := pdataDump(sig, body)
	if !ok {
		return
	}
	if _, err := Scan(sig, body); err != nil {
		return
	}
	if got != want {
		t.Fatalf("view and pdata differ on %x\nview:\n%s\npdata:\n%s", body, got, want)
	}
}

// richMetrics covers what genMetrics leaves out: descriptions, delta temporality, flags,
// start times, histogram min/max unset, exponential histogram sums and thresholds.
func richMetrics(t testing.TB) []byte {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.SetSchemaUrl("s")
	rm.Resource().SetDroppedAttributesCount(3)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().Attributes().PutEmptyBytes("b")
	sm.Scope().Attributes().PutEmptyBytes("c").FromRaw([]byte{1, 2})
	m := sm.Metrics().AppendEmpty()
	m.SetName("d")
	m.SetDescription("delta sum")
	s := m.SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := s.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(5)
	dp.SetTimestamp(9)
	dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	dp.SetDoubleValue(math.Inf(-1))
	s.DataPoints().AppendEmpty() // no value at all
	h := sm.Metrics().AppendEmpty().SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	hp := h.DataPoints().AppendEmpty()
	hp.SetCount(1)
	hp.Attributes().PutStr("le", "x")
	e := sm.Metrics().AppendEmpty().SetEmptyExponentialHistogram()
	ep := e.DataPoints().AppendEmpty()
	ep.SetSum(-2.5)
	ep.SetMin(-3)
	ep.SetZeroThreshold(1e-9)
	ep.SetFlags(1)
	ep.Attributes().PutInt("k", -1)
	ep.Negative().SetOffset(7)
	return encodeMetrics(t, md)
}

func richLogs(t testing.TB) []byte {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetObservedTimestamp(77)
	lr.SetSeverityText("WARN")
	lr.SetFlags(1)
	lr.SetDroppedAttributesCount(2)
	lr.SetEventName("browser.click")
	body := lr.Body().SetEmptyMap()
	body.PutStr("msg", "hello")
	body.PutEmptySlice("list").AppendEmpty().SetDouble(1.5)
	return encodeLogs(t, ld)
}

func richTraces(t testing.TB) []byte {
	td := genTraces(7, shape{resources: 2, scopes: 2, items: 3, attrs: 5})
	sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	sp.TraceState().FromRaw("ot=th:8")
	sp.SetDroppedAttributesCount(4)
	sp.Status().SetCode(ptrace.StatusCodeOk)
	td.ResourceSpans().At(1).Resource().SetDroppedAttributesCount(1)
	td.ResourceSpans().At(1).ScopeSpans().At(1).Scope().Attributes().PutStr("lib", "x")
	return encodeTraces(t, td)
}

// seeds are encoded requests of every signal, and hand-made bodies where the wire differs
// from the encoder's output: repeated scalars, merged messages, oneofs set twice, packed and
// unpacked repeated scalars, and the deprecated scope field.
func viewSeeds(t testing.TB, sig pipeline.Signal) [][]byte {
	out := [][]byte{
		gen(t, sig, 1, shape{resources: 1, scopes: 1, items: 1}),
		gen(t, sig, 2, shape{resources: 2, scopes: 2, items: 5, attrs: 5}),
	}
	kv := func(k string, v ...[]byte) []byte { return fMsg(1, fBytes(1, []byte(k)), fMsg(2, v...)) }
	str := func(s string) []byte { return fBytes(1, []byte(s)) }
	switch sig {
	case pipeline.SignalTraces:
		s := spanMsg(id(16, 1), id(8, 1), fBytes(5, []byte("first")), fBytes(5, []byte("second")),
			fMsg(15, fVarint(3, 2)), fMsg(15, fBytes(2, []byte("msg"))), fVarint(6, 3), fVarint(6, 2),
			fMsg(9, fBytes(1, []byte("k")), fMsg(2, str("a")), fMsg(2, fVarint(3, 5))))
		out = append(out, richTraces(t),
			fMsg(1, fMsg(1, kv("service.name", str("a"))), fMsg(1, kv("x", fVarint(2, 1))), fMsg(2, s)),
			fMsg(1, fMsg(1000, fMsg(1, str("lib")), s)),
			fMsg(1, fMsg(1000, s), fMsg(2, s)),
			tracesReq([][]byte{s, spanMsg(id(16, 2), id(8, 2))}))
	case pipeline.SignalMetrics:
		hist := fMsg(9, fMsg(1, fBytes(6, slices64(1, 2)), fFixed64(6, 9), fFixed64(7, math.Float64bits(2)), fBytes(7, nil)))
		exp := fMsg(10, fMsg(1, fMsg(8, fVarint(1, 3)), fMsg(8, fBytes(2, []byte{1, 0x80, 1})), fVarint(6, 5)), fVarint(2, 1))
		out = append(out, richMetrics(t),
			fMsg(1, fMsg(2, fMsg(2, fBytes(1, []byte("m")), fMsg(5, fMsg(1, fFixed64(4, 1))), hist))),
			fMsg(1, fMsg(2, fMsg(2, fBytes(1, []byte("e")), exp, fMsg(11, fMsg(1, fFixed64(4, 3))), exp))),
			fMsg(1, fMsg(2, fMsg(2, fMsg(7, fMsg(1, fFixed64(4, 1), fFixed64(6, 2)), fVarint(3, 1), fVarint(2, 1))))))
	case pipeline.SignalLogs:
		out = append(out, richLogs(t),
			fMsg(1, fMsg(2, fMsg(2, fMsg(5, str("a")), fMsg(5, fVarint(3, 4)), fVarint(2, 9), fVarint(2, 13)))),
			fMsg(1, fMsg(2, fMsg(2, fMsg(5, fMsg(6, kv("a", str("b")))), fMsg(5, fMsg(6, kv("c", str("d"))))))))
	}
	return out
}

func slices64(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
	}
	return b
}

func TestViewMatchesPdata(t *testing.T) {
	for _, sig := range pipeline.Signals {
		t.Run(sig.String(), func(t *testing.T) {
			compared := 0
			for _, body := range viewSeeds(t, sig) {
				if _, ok := pdataDump(sig, body); !ok {
					t.Fatalf("a seed pdata refuses: %x", body)
				}
				checkView(t, sig, body)
				compared++
			}
			if compared < 4 {
				t.Fatalf("only %d bodies compared", compared)
			}
		})
	}
}

func TestViewAttr(t *testing.T) {
	td := genTraces(3, shape{resources: 1, scopes: 1, items: 2, attrs: 5})
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("dup", "first")
	body := encodeTraces(t, td)
	// A duplicate key, as a producer may send: pdata's Get (and the view) return the first.
	body = bytes.Clone(body)
	rs := ReadResources(pipeline.SignalTraces, body)
	if !rs.Next() {
		t.Fatal("no resource")
	}
	if v, ok := rs.Resource().Attr("service.name"); !ok || string(v.Str()) != "svc-0" {
		t.Fatalf("service.name = %q %v", v.Str(), ok)
	}
	if _, ok := rs.Resource().Attr("missing"); ok {
		t.Fatal("found a missing key")
	}
	scopes := rs.Scopes()
	scopes.Next()
	spans := scopes.Spans()
	spans.Next()
	sp := spans.Span()
	want := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	for k, v := range want.Attributes().All() {
		got, ok := sp.Attr(k)
		if !ok || got.Type().String() != v.Type().String() {
			t.Fatalf("attr %s: got %v %v, want %v", k, got.Type(), ok, v.Type())
		}
	}
	if string(sp.Name()) != want.Name() || sp.EndTime()-sp.StartTime() != uint64(want.EndTimestamp()-want.StartTimestamp()) {
		t.Fatal("name or duration differ")
	}
}

// The view reads a request without allocating.
func TestViewDoesNotAllocate(t *testing.T) {
	body := gen(t, pipeline.SignalTraces, 4, shape{resources: 3, scopes: 2, items: 20, attrs: 8})
	mbody := gen(t, pipeline.SignalMetrics, 4, shape{resources: 2, scopes: 2, items: 10, attrs: 3})
	lbody := gen(t, pipeline.SignalLogs, 4, shape{resources: 2, scopes: 2, items: 10, attrs: 3})
	var sink uint64
	n := testing.AllocsPerRun(50, func() {
		sink += walkSpans(body)
		sink += walkMetrics(mbody)
		sink += walkLogs(lbody)
	})
	if n != 0 {
		t.Fatalf("%v allocations per walk", n)
	}
	if sink == 0 {
		t.Fatal("the walk read nothing")
	}
}

// walkSpans reads what RED metrics need of every span.
func walkSpans(body []byte) uint64 {
	var sum uint64
	rs := ReadResources(pipeline.SignalTraces, body)
	for rs.Next() {
		svc, _ := rs.Resource().Attr("service.name")
		sum += uint64(len(svc.Str()))
		scopes := rs.Scopes()
		for scopes.Next() {
			spans := scopes.Spans()
			for spans.Next() {
				sp := spans.Span()
				code, _ := sp.Status()
				sum += uint64(len(sp.Name())) + uint64(sp.Kind()) + uint64(code) + (sp.EndTime() - sp.StartTime()) + uint64(len(sp.TraceID()))
				if v, ok := sp.Attr("attr.1"); ok {
					sum += uint64(v.Int())
				}
			}
		}
	}
	return sum
}

func walkMetrics(body []byte) uint64 {
	var sum uint64
	rs := ReadResources(pipeline.SignalMetrics, body)
	for rs.Next() {
		scopes := rs.Scopes()
		for scopes.Next() {
			ms := scopes.Metrics()
			for ms.Next() {
				m := ms.Metric()
				sum += uint64(len(m.Name()))
				ps := m.Points()
				for ps.Next() {
					p := ps.Point()
					_, i, _ := p.Number()
					sum += uint64(i) + p.Count() + p.Time()
					bc := p.BucketCounts()
					for v, ok := bc.Next(); ok; v, ok = bc.Next() {
						sum += v
					}
					a := p.Attributes()
					for a.Next() {
						sum += uint64(len(a.Key()))
					}
				}
			}
		}
	}
	return sum
}

func walkLogs(body []byte) uint64 {
	var sum uint64
	rs := ReadResources(pipeline.SignalLogs, body)
	for rs.Next() {
		scopes := rs.Scopes()
		for scopes.Next() {
			ls := scopes.LogRecords()
			for ls.Next() {
				l := ls.LogRecord()
				sum += uint64(l.SeverityNumber()) + uint64(len(l.Body().Str())) + l.Time()
			}
		}
	}
	return sum
}

func FuzzViewTraces(f *testing.F)  { fuzzView(f, pipeline.SignalTraces) }
func FuzzViewMetrics(f *testing.F) { fuzzView(f, pipeline.SignalMetrics) }
func FuzzViewLogs(f *testing.F)    { fuzzView(f, pipeline.SignalLogs) }

func fuzzView(f *testing.F, sig pipeline.Signal) {
	for _, s := range viewSeeds(f, sig) {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) { checkView(t, sig, body) })
}

// BenchmarkView reads service, name, kind, status, duration and one attribute of every span,
// through the view and through a pdata decode.
func BenchmarkView(b *testing.B) {
	body := gen(b, pipeline.SignalTraces, 5, shape{resources: 4, scopes: 2, items: 64, attrs: 10})
	b.Run("view", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			walkSpans(body)
		}
	})
	b.Run("pdata", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body)
			if err != nil {
				b.Fatal(err)
			}
			var sum uint64
			for _, rs := range td.ResourceSpans().All() {
				svc, _ := rs.Resource().Attributes().Get("service.name")
				sum += uint64(len(svc.Str()))
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						sum += uint64(len(sp.Name())) + uint64(sp.Kind()) + uint64(sp.Status().Code()) + uint64(sp.EndTimestamp()-sp.StartTimestamp())
						if v, ok := sp.Attributes().Get("attr.1"); ok {
							sum += uint64(v.Int())
						}
					}
				}
			}
		}
	})
}
