package count

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

type last struct{ md pmetric.Metrics }

func (l *last) Consume(_ context.Context, b pipeline.Batch) error {
	md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b.Body)
	if err != nil {
		return err
	}
	if md.DataPointCount() != b.Items {
		return fmt.Errorf("batch says %d items, holds %d points", b.Items, md.DataPointCount())
	}
	l.md = md
	return nil
}

// render lists resource|metric{attrs}=value start-end, sorted.
func render(md pmetric.Metrics) string {
	var out []string
	for _, rm := range md.ResourceMetrics().All() {
		svc, _ := rm.Resource().Attributes().Get("service.name")
		for _, sm := range rm.ScopeMetrics().All() {
			if sm.Scope().Name() != ScopeName {
				out = append(out, "scope "+sm.Scope().Name())
			}
			for _, m := range sm.Metrics().All() {
				for _, dp := range m.Sum().DataPoints().All() {
					var attrs []string
					for k, v := range dp.Attributes().All() {
						attrs = append(attrs, fmt.Sprintf("%s=%s:%s", k, v.Type(), v.AsString()))
					}
					sort.Strings(attrs)
					out = append(out, fmt.Sprintf("%s|%s{%s}=%d %d-%d", svc.Str(), m.Name(), strings.Join(attrs, ","), dp.IntValue(), dp.StartTimestamp(), dp.Timestamp()))
				}
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func batchOf(sig pipeline.Signal, body []byte, err error) pipeline.Batch {
	if err != nil {
		panic(err)
	}
	return pipeline.Batch{Signal: sig, Body: body}
}

func TestCountTraces(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	rs.Resource().Attributes().PutStr("region", "eu")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().Attributes().PutStr("lib", "http")
	for i, code := range []int64{200, 200, 500, -1} {
		sp := ss.Spans().AppendEmpty()
		sp.SetStartTimestamp(pcommon.Timestamp(100 + i))
		sp.SetEndTimestamp(pcommon.Timestamp(200 + i))
		if code >= 0 {
			sp.Attributes().PutInt("http.status_code", code)
		}
		if i == 0 {
			sp.Events().AppendEmpty().SetTimestamp(150)
		}
	}
	body, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	in := batchOf(pipeline.SignalTraces, body, err)

	out := &last{}
	c := New(Config{}, pipeline.SignalTraces, out, time.Now)
	if err := c.Consume(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	want := "shop|trace.span.count{}=4 100-203\nshop|trace.span.event.count{}=1 150-150"
	if got := render(out.md); got != want {
		t.Errorf("defaults:\n%s\nwant\n%s", got, want)
	}

	cfg := Config{Spans: map[string]MetricInfo{
		"by.code": {Attributes: []Attribute{{Key: "http.status_code"}, {Key: "region"}, {Key: "lib"}}},
		"by.tier": {Attributes: []Attribute{{Key: "tier", DefaultValue: "unknown"}}},
	}, SpanEvents: map[string]MetricInfo{}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c = New(cfg, pipeline.SignalTraces, out, time.Now)
	if err := c.Consume(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	// The span without a status code is not counted by by.code; an int stays an int; region
	// comes from the resource and lib from the scope; an empty section counts nothing.
	want = strings.Join([]string{
		"shop|by.code{http.status_code=Int:200,lib=Str:http,region=Str:eu}=2 100-203",
		"shop|by.code{http.status_code=Int:500,lib=Str:http,region=Str:eu}=1 100-203",
		"shop|by.tier{tier=Str:unknown}=4 100-203",
	}, "\n")
	if got := render(out.md); got != want {
		t.Errorf("configured:\n%s\nwant\n%s", got, want)
	}
}

func TestCountLogsAndMetrics(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().SetTimestamp(10)
	lrs.AppendEmpty()               // no timestamp: the batch's stamp comes from the others
	ld.ResourceLogs().AppendEmpty() // a resource with no records makes no counts
	body, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	out := &last{}
	if err := New(Config{}, pipeline.SignalLogs, out, time.Now).Consume(context.Background(), batchOf(pipeline.SignalLogs, body, err)); err != nil {
		t.Fatal(err)
	}
	if got, want := render(out.md), "api|log.record.count{}=2 10-10"; got != want {
		t.Errorf("logs: %s, want %s", got, want)
	}

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "db")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName("g")
	for i := range 3 {
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(50 + i))
	}
	h := ms.AppendEmpty()
	h.SetName("h")
	h.SetEmptyHistogram().DataPoints().AppendEmpty().SetTimestamp(40)
	body, err = (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	now := time.Unix(0, 7)
	if err := New(Config{}, pipeline.SignalMetrics, out, func() time.Time { return now }).Consume(context.Background(), batchOf(pipeline.SignalMetrics, body, err)); err != nil {
		t.Fatal(err)
	}
	// Metrics carry no timestamp of their own: their count takes the clock's.
	want := "db|metric.count{}=2 7-7\ndb|metric.datapoint.count{}=2 40-52"
	if got := render(out.md); got != want {
		t.Errorf("metrics:\n%s\nwant\n%s", got, want)
	}
}

func TestCountConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Spans: map[string]MetricInfo{"x": {Conditions: []string{`name == "a"`}}}}, "spans.x.conditions: OTTL conditions are not supported"},
		{Config{Metrics: map[string]MetricInfo{"x": {Attributes: []Attribute{{Key: "a"}}}}}, "metrics.x.attributes"},
		{Config{Logs: map[string]MetricInfo{"x": {Attributes: []Attribute{{Key: "a"}, {Key: "a"}}}}}, `"a" is listed twice`},
		{Config{DataPoints: map[string]MetricInfo{"x": {Attributes: []Attribute{{}}}}}, "datapoints.x.attributes[0].key: required"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}
