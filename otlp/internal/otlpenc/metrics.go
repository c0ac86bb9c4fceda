package otlpenc

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Metrics converts one collection to an ExportMetricsServiceRequest and its data point count.
// Metrics are collected every few seconds, not per call: building pdata here costs little and
// keeps the many aggregation shapes in one well-tested model.
func Metrics(rm *metricdata.ResourceMetrics) (body []byte, points int, err error) {
	md := pmetric.NewMetrics()
	rmOut := md.ResourceMetrics().AppendEmpty()
	if rm.Resource != nil {
		putAttrs(rmOut.Resource().Attributes(), rm.Resource.Attributes())
		rmOut.SetSchemaUrl(rm.Resource.SchemaURL())
	}
	for _, sm := range rm.ScopeMetrics {
		smOut := rmOut.ScopeMetrics().AppendEmpty()
		smOut.Scope().SetName(sm.Scope.Name)
		smOut.Scope().SetVersion(sm.Scope.Version)
		putAttrs(smOut.Scope().Attributes(), sm.Scope.Attributes.ToSlice())
		smOut.SetSchemaUrl(sm.Scope.SchemaURL)
		for _, m := range sm.Metrics {
			mOut := smOut.Metrics().AppendEmpty()
			mOut.SetName(m.Name)
			mOut.SetDescription(m.Description)
			mOut.SetUnit(m.Unit)
			points += metricData(mOut, m.Data)
		}
	}
	if points == 0 {
		return nil, 0, nil
	}
	body, err = pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	return body, points, err
}

func metricData(m pmetric.Metric, data metricdata.Aggregation) int {
	switch d := data.(type) {
	case metricdata.Gauge[int64]:
		return numberPoints(m.SetEmptyGauge().DataPoints(), d.DataPoints)
	case metricdata.Gauge[float64]:
		return numberPoints(m.SetEmptyGauge().DataPoints(), d.DataPoints)
	case metricdata.Sum[int64]:
		s := m.SetEmptySum()
		s.SetIsMonotonic(d.IsMonotonic)
		s.SetAggregationTemporality(temporality(d.Temporality))
		return numberPoints(s.DataPoints(), d.DataPoints)
	case metricdata.Sum[float64]:
		s := m.SetEmptySum()
		s.SetIsMonotonic(d.IsMonotonic)
		s.SetAggregationTemporality(temporality(d.Temporality))
		return numberPoints(s.DataPoints(), d.DataPoints)
	case metricdata.Histogram[int64]:
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(temporality(d.Temporality))
		return histogramPoints(h.DataPoints(), d.DataPoints)
	case metricdata.Histogram[float64]:
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(temporality(d.Temporality))
		return histogramPoints(h.DataPoints(), d.DataPoints)
	case metricdata.ExponentialHistogram[int64]:
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(temporality(d.Temporality))
		return expPoints(h.DataPoints(), d.DataPoints)
	case metricdata.ExponentialHistogram[float64]:
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(temporality(d.Temporality))
		return expPoints(h.DataPoints(), d.DataPoints)
	case metricdata.Summary:
		s := m.SetEmptySummary()
		for _, dp := range d.DataPoints {
			p := s.DataPoints().AppendEmpty()
			putAttrs(p.Attributes(), dp.Attributes.ToSlice())
			p.SetStartTimestamp(ts(dp.StartTime))
			p.SetTimestamp(ts(dp.Time))
			p.SetCount(dp.Count)
			p.SetSum(dp.Sum)
			for _, q := range dp.QuantileValues {
				qv := p.QuantileValues().AppendEmpty()
				qv.SetQuantile(q.Quantile)
				qv.SetValue(q.Value)
			}
		}
		return len(d.DataPoints)
	}
	return 0
}

func numberPoints[N int64 | float64](out pmetric.NumberDataPointSlice, dps []metricdata.DataPoint[N]) int {
	for _, dp := range dps {
		p := out.AppendEmpty()
		putAttrs(p.Attributes(), dp.Attributes.ToSlice())
		p.SetStartTimestamp(ts(dp.StartTime))
		p.SetTimestamp(ts(dp.Time))
		switch v := any(dp.Value).(type) {
		case int64:
			p.SetIntValue(v)
		case float64:
			p.SetDoubleValue(v)
		}
		exemplars(p.Exemplars(), dp.Exemplars)
	}
	return len(dps)
}

func histogramPoints[N int64 | float64](out pmetric.HistogramDataPointSlice, dps []metricdata.HistogramDataPoint[N]) int {
	for _, dp := range dps {
		p := out.AppendEmpty()
		putAttrs(p.Attributes(), dp.Attributes.ToSlice())
		p.SetStartTimestamp(ts(dp.StartTime))
		p.SetTimestamp(ts(dp.Time))
		p.SetCount(dp.Count)
		p.SetSum(float64(dp.Sum))
		p.ExplicitBounds().FromRaw(dp.Bounds)
		p.BucketCounts().FromRaw(dp.BucketCounts)
		if v, ok := dp.Min.Value(); ok {
			p.SetMin(float64(v))
		}
		if v, ok := dp.Max.Value(); ok {
			p.SetMax(float64(v))
		}
		exemplars(p.Exemplars(), dp.Exemplars)
	}
	return len(dps)
}

func expPoints[N int64 | float64](out pmetric.ExponentialHistogramDataPointSlice, dps []metricdata.ExponentialHistogramDataPoint[N]) int {
	for _, dp := range dps {
		p := out.AppendEmpty()
		putAttrs(p.Attributes(), dp.Attributes.ToSlice())
		p.SetStartTimestamp(ts(dp.StartTime))
		p.SetTimestamp(ts(dp.Time))
		p.SetCount(dp.Count)
		p.SetSum(float64(dp.Sum))
		p.SetScale(dp.Scale)
		p.SetZeroCount(dp.ZeroCount)
		p.SetZeroThreshold(dp.ZeroThreshold)
		p.Positive().SetOffset(dp.PositiveBucket.Offset)
		p.Positive().BucketCounts().FromRaw(dp.PositiveBucket.Counts)
		p.Negative().SetOffset(dp.NegativeBucket.Offset)
		p.Negative().BucketCounts().FromRaw(dp.NegativeBucket.Counts)
		if v, ok := dp.Min.Value(); ok {
			p.SetMin(float64(v))
		}
		if v, ok := dp.Max.Value(); ok {
			p.SetMax(float64(v))
		}
		exemplars(p.Exemplars(), dp.Exemplars)
	}
	return len(dps)
}

func exemplars[N int64 | float64](out pmetric.ExemplarSlice, exs []metricdata.Exemplar[N]) {
	for _, ex := range exs {
		e := out.AppendEmpty()
		putAttrs(e.FilteredAttributes(), ex.FilteredAttributes)
		e.SetTimestamp(ts(ex.Time))
		switch v := any(ex.Value).(type) {
		case int64:
			e.SetIntValue(v)
		case float64:
			e.SetDoubleValue(v)
		}
		if len(ex.TraceID) == 16 {
			e.SetTraceID(pcommon.TraceID(ex.TraceID))
		}
		if len(ex.SpanID) == 8 {
			e.SetSpanID(pcommon.SpanID(ex.SpanID))
		}
	}
}

func temporality(t metricdata.Temporality) pmetric.AggregationTemporality {
	switch t {
	case metricdata.CumulativeTemporality:
		return pmetric.AggregationTemporalityCumulative
	case metricdata.DeltaTemporality:
		return pmetric.AggregationTemporalityDelta
	}
	return pmetric.AggregationTemporalityUnspecified
}

func ts(t time.Time) pcommon.Timestamp {
	if t.IsZero() {
		return 0
	}
	return pcommon.Timestamp(unixNano(t.UnixNano()))
}

func putAttrs(m pcommon.Map, attrs []attribute.KeyValue) {
	m.EnsureCapacity(len(attrs))
	for _, kv := range attrs {
		putValue(m.PutEmpty(string(kv.Key)), kv.Value)
	}
}

func putValue(out pcommon.Value, v attribute.Value) {
	switch v.Type() {
	case attribute.BOOL:
		out.SetBool(v.AsBool())
	case attribute.INT64:
		out.SetInt(v.AsInt64())
	case attribute.FLOAT64:
		out.SetDouble(v.AsFloat64())
	case attribute.STRING:
		out.SetStr(v.AsString())
	case attribute.BYTESLICE:
		out.SetEmptyBytes().FromRaw(v.AsByteSlice())
	case attribute.BOOLSLICE:
		s := out.SetEmptySlice()
		for _, x := range v.AsBoolSlice() {
			s.AppendEmpty().SetBool(x)
		}
	case attribute.INT64SLICE:
		s := out.SetEmptySlice()
		for _, x := range v.AsInt64Slice() {
			s.AppendEmpty().SetInt(x)
		}
	case attribute.FLOAT64SLICE:
		s := out.SetEmptySlice()
		for _, x := range v.AsFloat64Slice() {
			s.AppendEmpty().SetDouble(x)
		}
	case attribute.STRINGSLICE:
		s := out.SetEmptySlice()
		for _, x := range v.AsStringSlice() {
			s.AppendEmpty().SetStr(x)
		}
	case attribute.SLICE:
		s := out.SetEmptySlice()
		for _, x := range v.AsSlice() {
			putValue(s.AppendEmpty(), x)
		}
	case attribute.MAP:
		putAttrs(out.SetEmptyMap(), v.AsMap())
	case attribute.EMPTY:
	default:
		out.SetStr("INVALID")
	}
}
