package otlpenc

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
)

func TestMetricsFromRealProvider(t *testing.T) {
	ctx := context.Background()
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd),
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc"))),
		sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: "exp"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})))
	defer mp.Shutdown(ctx)
	m := mp.Meter("lib")
	c, _ := m.Int64Counter("requests", metric.WithUnit("{request}"))
	c.Add(ctx, 3, metric.WithAttributes(attribute.String("route", "/a")))
	c.Add(ctx, 2, metric.WithAttributes(attribute.String("route", "/b")))
	h, _ := m.Float64Histogram("latency", metric.WithUnit("s"))
	h.Record(ctx, 0.25)
	h.Record(ctx, 1.5)
	e, _ := m.Float64Histogram("exp")
	e.Record(ctx, 3)
	g, _ := m.Int64Gauge("temp")
	g.Record(ctx, -4)
	ud, _ := m.Float64UpDownCounter("queue")
	ud.Add(ctx, -1.5)

	var rm metricdata.ResourceMetrics
	if err := rd.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	body, points, err := Metrics(&rm)
	if err != nil {
		t.Fatal(err)
	}
	if points != 6 {
		t.Errorf("points = %d, want 6", points)
	}
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	md := req.Metrics()
	if md.DataPointCount() != points {
		t.Errorf("decoded %d points, want %d", md.DataPointCount(), points)
	}
	byName := map[string]pmetric.Metric{}
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		byName[ms.At(i).Name()] = ms.At(i)
	}
	if s := byName["requests"].Sum(); !s.IsMonotonic() || s.DataPoints().Len() != 2 || byName["requests"].Unit() != "{request}" {
		t.Errorf("requests: %+v", s)
	}
	if hp := byName["latency"].Histogram().DataPoints().At(0); hp.Count() != 2 || hp.Sum() != 1.75 || hp.Min() != 0.25 || hp.Max() != 1.5 {
		t.Errorf("latency: count %d sum %v", hp.Count(), hp.Sum())
	}
	if ep := byName["exp"].ExponentialHistogram().DataPoints().At(0); ep.Count() != 1 || ep.Sum() != 3 {
		t.Errorf("exp: count %d", ep.Count())
	}
	if gp := byName["temp"].Gauge().DataPoints().At(0); gp.IntValue() != -4 {
		t.Errorf("temp = %d", gp.IntValue())
	}
	if up := byName["queue"].Sum(); up.IsMonotonic() || up.DataPoints().At(0).DoubleValue() != -1.5 {
		t.Errorf("queue: %v", up.DataPoints().At(0).DoubleValue())
	}
	if v, _ := md.ResourceMetrics().At(0).Resource().Attributes().Get("service.name"); v.Str() != "svc" {
		t.Errorf("resource: %v", v.Str())
	}
	empty := metricdata.ResourceMetrics{}
	if b, n, err := Metrics(&empty); b != nil || n != 0 || err != nil {
		t.Errorf("empty collection: %d bytes, %d points, %v", len(b), n, err)
	}
}
