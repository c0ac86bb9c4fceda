package compare

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

	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/connector/count"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

const countYAML = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: RECEIVER
exporters:
  otlp:
    endpoint: SINK
    tls:
      insecure: true
connectors:
  count:
    spans:
      trace.span.count:
        description: The number of spans observed.
      spans.by.route:
        description: spans by route, status and region
        attributes:
          - key: http.route
          - key: http.status_code
            default_value: none
          - key: region
          - key: lib.version
            default_value: unknown
    spanevents:
      events.by.kind:
        attributes:
          - key: kind
            default_value: other
    metrics:
      metric.count:
        description: The number of metrics observed.
    datapoints:
      points.by.host:
        attributes:
          - key: host
            default_value: unknown
    logs:
      logs.by.level:
        description: by level
        attributes:
          - key: level
          - key: ratio
            default_value: "0"
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [count]
    metrics/in:
      receivers: [otlp]
      exporters: [count]
    logs:
      receivers: [otlp]
      exporters: [count]
    metrics/out:
      receivers: [count]
      exporters: [otlp]
`

const countTOML = `
[receivers.otlp.grpc]
endpoint = "RECEIVER"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[exporters.otlp]
endpoint = "SINK"
tls = { insecure = true }

[connectors.count.spans."trace.span.count"]
description = "The number of spans observed."
[connectors.count.spans."spans.by.route"]
description = "spans by route, status and region"
attributes = [
  { key = "http.route" },
  { key = "http.status_code", default_value = "none" },
  { key = "region" },
  { key = "lib.version", default_value = "unknown" },
]
[connectors.count.spanevents."events.by.kind"]
attributes = [{ key = "kind", default_value = "other" }]
[connectors.count.metrics."metric.count"]
description = "The number of metrics observed."
[connectors.count.datapoints."points.by.host"]
attributes = [{ key = "host", default_value = "unknown" }]
[connectors.count.logs."logs.by.level"]
description = "by level"
attributes = [{ key = "level" }, { key = "ratio", default_value = "0" }]

[pipelines.traces]
receivers = ["otlp"]
exporters = ["count"]
[pipelines."metrics/in"]
receivers = ["otlp"]
exporters = ["count"]
[pipelines.logs]
receivers = ["otlp"]
exporters = ["count"]
[pipelines."metrics/out"]
receivers = ["count"]
exporters = ["otlp"]
`

// countInput has attributes on spans, scopes and resources, of several types, present and
// missing, over several requests.
func countInput() input {
	var in input
	for req := range 3 {
		td := ptrace.NewTraces()
		for r, region := range []string{"eu", "us"} {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
			if req != 2 || r == 0 {
				rs.Resource().Attributes().PutStr("region", region)
			}
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("lib")
			if r == 1 {
				ss.Scope().Attributes().PutStr("lib.version", "1.2")
			}
			for i := range 7 {
				sp := ss.Spans().AppendEmpty()
				sp.SetName(fmt.Sprintf("op-%d", i%3))
				sp.SetTraceID(pcommon.TraceID{1, byte(req), byte(r), byte(i)})
				sp.SetSpanID(pcommon.SpanID{2, byte(req), byte(r), byte(i)})
				sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(req*1000+i)))
				sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(req*1000+i+50)))
				sp.Attributes().PutStr("http.route", []string{"/a", "/b"}[i%2])
				switch i % 3 {
				case 0:
					sp.Attributes().PutInt("http.status_code", 200)
				case 1:
					sp.Attributes().PutInt("http.status_code", 500)
				}
				if i == 3 {
					sp.Attributes().Remove("http.route") // not counted by spans.by.route
				}
				if i%4 == 0 {
					ev := sp.Events().AppendEmpty()
					ev.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(req*1000+i+10)))
					if i == 4 {
						ev.Attributes().PutStr("kind", "exception")
					}
				}
			}
		}
		in.traces = append(in.traces, td)

		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "db")
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		g := ms.AppendEmpty()
		g.SetName("cpu")
		gdp := g.SetEmptyGauge().DataPoints()
		for i := range 4 {
			dp := gdp.AppendEmpty()
			dp.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(req*1000+i)))
			dp.SetDoubleValue(float64(i))
			if i < 3 {
				dp.Attributes().PutStr("host", fmt.Sprintf("h%d", i%2))
			}
		}
		s := ms.AppendEmpty()
		s.SetName("requests")
		sdp := s.SetEmptySum().DataPoints().AppendEmpty()
		sdp.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(req*1000+7)))
		sdp.Attributes().PutStr("host", "h0")
		h := ms.AppendEmpty()
		h.SetName("latency")
		h.SetEmptyHistogram().DataPoints().AppendEmpty().SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(req*1000+9)))
		in.metrics = append(in.metrics, md)

		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "api")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range 5 {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(req*1000+i)))
			if i != 4 {
				lr.Attributes().PutStr("level", []string{"info", "warn"}[i%2])
			}
			if i == 1 {
				lr.Attributes().PutDouble("ratio", 0.5)
			}
		}
		in.logs = append(in.logs, ld)
	}
	return in
}

// renderCounts lists every data point with its resource, metric and attributes. The scope
// names differ by design (each names its own connector) and the timestamps of counts made
// from metrics are the time of counting, so neither is compared.
func renderCounts(batches []pmetric.Metrics) []string {
	var out []string
	for _, md := range batches {
		for _, rm := range md.ResourceMetrics().All() {
			res := renderMap(rm.Resource().Attributes())
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					head := fmt.Sprintf("%s %s %q %s", res, m.Name(), m.Description(), m.Type())
					if m.Type() != pmetric.MetricTypeSum {
						out = append(out, head)
						continue
					}
					sum := m.Sum()
					for _, dp := range sum.DataPoints().All() {
						ts := fmt.Sprintf("%d-%d", dp.StartTimestamp(), dp.Timestamp())
						if m.Name() == "metric.count" {
							ts = "now"
						}
						out = append(out, fmt.Sprintf("%s monotonic=%v %s %s %s=%d %s", head, sum.IsMonotonic(), sum.AggregationTemporality(),
							renderMap(dp.Attributes()), dp.ValueType(), dp.IntValue(), ts))
					}
				}
			}
		}
	}
	return out
}

func renderMap(m pcommon.Map) string {
	var kv []string
	for k, v := range m.All() {
		kv = append(kv, fmt.Sprintf("%s=%s:%s", k, v.Type(), v.AsString()))
	}
	sort.Strings(kv)
	return "{" + strings.Join(kv, ",") + "}"
}

// The count connector against the Collector's countconnector: the same spans, span events,
// metrics, data points and log records, counted by the same attributes, give the same points.
func TestCountMatchesCollector(t *testing.T) {
	ctx := testContext(t)
	oursSink, theirsSink := testutil.NewSink(t), testutil.NewSink(t)
	theirs, theirCtx := startCollector(t, ctx, countYAML, theirsSink.GRPCAddr)
	ours, _ := startOurs(t, countTOML, oursSink.GRPCAddr)
	in := countInput()
	send(t, ctx, ours, in)
	send(t, theirCtx, theirs, in)
	// How many points to wait for: the connector's own count of this input, made outside the
	// server. The comparison below does not depend on it.
	want := expectedPoints(t, in)
	if err := oursSink.WaitItems(ctx, pipeline.SignalMetrics, want); err != nil {
		t.Fatalf("ours: %v; got:\n%s", err, strings.Join(renderCounts(oursSink.Metrics()), "\n"))
	}
	if err := theirsSink.WaitItems(theirCtx, pipeline.SignalMetrics, want); err != nil {
		t.Fatalf("Collector: %v", err)
	}
	o, c := renderCounts(oursSink.Metrics()), renderCounts(theirsSink.Metrics())
	if d := diff(o, c); d != "" {
		t.Errorf("count points differ (%d ours, %d the Collector's):\n%s", len(o), len(c), d)
	}
	t.Logf("%d count points compared, from %d spans, %d data points and %d log records", len(o), 3*2*7, 3*6, 3*5)
}

type pointCounter struct{ n int }

func (p *pointCounter) Consume(_ context.Context, b pipeline.Batch) error { p.n += b.Items; return nil }

func expectedPoints(t *testing.T, in input) int {
	cfg, err := config.Parse([]byte(strings.NewReplacer("RECEIVER", "127.0.0.1:0", "SINK", "127.0.0.1:1").Replace(countTOML)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cc := *cfg.Connectors["count"].Config.(*count.Config)
	var pc pointCounter
	ctx := context.Background()
	for sig, bodies := range map[pipeline.Signal][][]byte{pipeline.SignalTraces: marshalAll(in.traces, (&ptrace.ProtoMarshaler{}).MarshalTraces),
		pipeline.SignalMetrics: marshalAll(in.metrics, (&pmetric.ProtoMarshaler{}).MarshalMetrics), pipeline.SignalLogs: marshalAll(in.logs, (&plog.ProtoMarshaler{}).MarshalLogs)} {
		c := count.New(cc, sig, &pc, time.Now)
		for _, b := range bodies {
			if err := c.Consume(ctx, pipeline.Batch{Signal: sig, Body: b}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return pc.n
}

func marshalAll[T any](xs []T, m func(T) ([]byte, error)) [][]byte {
	var out [][]byte
	for _, x := range xs {
		b, err := m(x)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return out
}
