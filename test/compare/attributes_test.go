package compare

import (
	"fmt"
	"sort"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// Every action of both processors, with include and exclude on the attributes processor.
const attributesYAML = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: RECEIVER
processors:
  resource:
    attributes:
      - {key: deployment.environment.name, value: prod, action: insert}
      - {key: region, value: eu-1, action: update}
      - {key: team, value: checkout, action: upsert}
      - {key: host.id, action: hash}
      - {pattern: ^tmp\., action: delete}
      - {key: owner, from_attribute: team, action: insert}
  attributes:
    include:
      match_type: regexp
      resources:
        - {key: service.name, value: ^shop}
    exclude:
      match_type: strict
      attributes:
        - {key: skip, value: true}
    actions:
      - {key: http.url, pattern: '^(?P<http_scheme>[a-z]+)://(?P<http_host>[^/]+)', action: extract}
      - {key: user.email, action: hash}
      - {key: retries, converted_type: int, action: convert}
      - {key: ratio, converted_type: double, action: convert}
      - {key: code, converted_type: string, action: convert}
      - {key: secret, action: delete}
      - {key: tier, value: 2, action: insert}
      - {key: copied, from_attribute: http.url, action: upsert}
      - {key: enabled, value: false, action: update}
  attributes/metrics:
    include:
      match_type: regexp
      metric_names: [queue]
    actions:
      - {key: user.email, action: hash}
      - {key: retries, converted_type: int, action: convert}
      - {key: secret, action: delete}
      - {key: tier, value: 2, action: insert}
  attributes/spans:
    include:
      match_type: strict
      services: [shop-web, billing]
      span_names: [op-1, op-2, op-3]
    actions:
      - {key: picked, value: true, action: insert}
exporters:
  otlp:
    endpoint: SINK
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [resource, attributes, attributes/spans]
      exporters: [otlp]
    metrics:
      receivers: [otlp]
      processors: [resource, attributes/metrics]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [resource, attributes]
      exporters: [otlp]
`

const attributesTOML = `
[receivers.otlp.grpc]
endpoint = "RECEIVER"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[processors.resource]
attributes = [
  { key = "deployment.environment.name", value = "prod", action = "insert" },
  { key = "region", value = "eu-1", action = "update" },
  { key = "team", value = "checkout", action = "upsert" },
  { key = "host.id", action = "hash" },
  { pattern = '^tmp\.', action = "delete" },
  { key = "owner", from_attribute = "team", action = "insert" },
]
[processors.attributes]
include = { match_type = "regexp", resources = [{ key = "service.name", value = "^shop" }] }
exclude = { match_type = "strict", attributes = [{ key = "skip", value = true }] }
actions = [
  { key = "http.url", pattern = '^(?P<http_scheme>[a-z]+)://(?P<http_host>[^/]+)', action = "extract" },
  { key = "user.email", action = "hash" },
  { key = "retries", converted_type = "int", action = "convert" },
  { key = "ratio", converted_type = "double", action = "convert" },
  { key = "code", converted_type = "string", action = "convert" },
  { key = "secret", action = "delete" },
  { key = "tier", value = 2, action = "insert" },
  { key = "copied", from_attribute = "http.url", action = "upsert" },
  { key = "enabled", value = false, action = "update" },
]
[processors."attributes/metrics"]
include = { match_type = "regexp", metric_names = ["queue"] }
actions = [
  { key = "user.email", action = "hash" },
  { key = "retries", converted_type = "int", action = "convert" },
  { key = "secret", action = "delete" },
  { key = "tier", value = 2, action = "insert" },
]
[processors."attributes/spans"]
include = { match_type = "strict", services = ["shop-web", "billing"], span_names = ["op-1", "op-2", "op-3"] }
actions = [{ key = "picked", value = true, action = "insert" }]
[exporters.otlp]
endpoint = "SINK"
tls = { insecure = true }
[pipelines.traces]
receivers = ["otlp"]
processors = ["resource", "attributes", "attributes/spans"]
exporters = ["otlp"]
[pipelines.metrics]
receivers = ["otlp"]
processors = ["resource", "attributes/metrics"]
exporters = ["otlp"]
[pipelines.logs]
receivers = ["otlp"]
processors = ["resource", "attributes"]
exporters = ["otlp"]
`

// fillAttrs gives an item attributes every action has something to do with, varied by i.
func fillAttrs(m pcommon.Map, i int) {
	if i%3 != 2 {
		m.PutStr("http.url", []string{"https://shop.example.com/cart?x=1", "http://10.0.0.1:8080/", "not a url"}[i%3])
	}
	if i%2 == 0 {
		m.PutStr("user.email", fmt.Sprintf("user%d@example.com", i))
	}
	switch i % 4 {
	case 0:
		m.PutStr("retries", "3")
		m.PutStr("ratio", "0.25")
		m.PutInt("code", 404)
	case 1:
		m.PutDouble("retries", 2.7)
		m.PutInt("ratio", 4)
		m.PutBool("code", true)
	case 2:
		m.PutStr("retries", "many")
		m.PutStr("ratio", "x")
		m.PutDouble("code", 1.5)
	case 3:
		m.PutBool("retries", true)
		m.PutBool("ratio", false)
	}
	m.PutStr("secret", "hunter2")
	if i%5 == 0 {
		m.PutInt("tier", 9)
		m.PutBool("enabled", true)
	}
	if i%7 == 3 {
		m.PutBool("skip", true)
	}
	m.PutInt("seq", int64(i))
}

func fillResource(m pcommon.Map, svc string, r int) {
	m.PutStr("service.name", svc)
	if r%2 == 0 {
		m.PutStr("region", "us-1")
		m.PutStr("deployment.environment.name", "staging")
	}
	m.PutStr("host.id", fmt.Sprintf("host-%d", r))
	m.PutStr("tmp.build", "x")
	m.PutStr("tmp.cache", "y")
	if r%3 == 0 {
		m.PutStr("team", "payments")
	}
}

func attributesInput() input {
	var in input
	services := []string{"shop-api", "shop-web", "billing"}
	for req := range 2 {
		td := ptrace.NewTraces()
		md := pmetric.NewMetrics()
		ld := plog.NewLogs()
		for r, svc := range services {
			rs := td.ResourceSpans().AppendEmpty()
			fillResource(rs.Resource().Attributes(), svc, r+req)
			ss := rs.ScopeSpans().AppendEmpty()
			rm := md.ResourceMetrics().AppendEmpty()
			fillResource(rm.Resource().Attributes(), svc, r+req)
			g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			g.SetName("queue.depth")
			points := g.SetEmptyGauge().DataPoints()
			cpu := rm.ScopeMetrics().At(0).Metrics().AppendEmpty()
			cpu.SetName("cpu") // not selected by the metrics processor's metric_names
			cdp := cpu.SetEmptyGauge().DataPoints().AppendEmpty()
			cdp.SetIntValue(int64(1000 + req*10 + r))
			fillAttrs(cdp.Attributes(), 1000+req*10+r)
			rl := ld.ResourceLogs().AppendEmpty()
			fillResource(rl.Resource().Attributes(), svc, r+req)
			sl := rl.ScopeLogs().AppendEmpty()
			for i := range 14 {
				n := req*100 + r*20 + i
				sp := ss.Spans().AppendEmpty()
				sp.SetName(fmt.Sprintf("op-%d", i))
				sp.SetTraceID(pcommon.TraceID{3, byte(n)})
				sp.SetSpanID(pcommon.SpanID{4, byte(n)})
				fillAttrs(sp.Attributes(), n)
				dp := points.AppendEmpty()
				dp.SetIntValue(int64(n))
				fillAttrs(dp.Attributes(), n)
				lr := sl.LogRecords().AppendEmpty()
				lr.Body().SetStr(fmt.Sprintf("log %d", n))
				fillAttrs(lr.Attributes(), n)
			}
		}
		in.traces, in.metrics, in.logs = append(in.traces, td), append(in.metrics, md), append(in.logs, ld)
	}
	return in
}

// renderItems lists every span, data point and log record with its resource, scope and
// attributes, keyed by its own seq attribute (order within a batch is not compared).
func renderItems(s *testutil.Sink) []string {
	var out []string
	for _, td := range s.Traces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					var evs []string
					for _, ev := range sp.Events().All() {
						evs = append(evs, ev.Name())
					}
					out = append(out, fmt.Sprintf("span %s %s %s events=%v tracestate=%q", sp.Name(), renderMap(rs.Resource().Attributes()), renderMap(sp.Attributes()), evs, sp.TraceState().AsRaw()))
				}
			}
		}
	}
	for _, md := range s.Metrics() {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					var pts pmetric.NumberDataPointSlice
					switch m.Type() {
					case pmetric.MetricTypeGauge:
						pts = m.Gauge().DataPoints()
					case pmetric.MetricTypeSum:
						pts = m.Sum().DataPoints()
					default:
						out = append(out, "metric of type "+m.Type().String())
						continue
					}
					for _, dp := range pts.All() {
						out = append(out, fmt.Sprintf("point %s %s %s %s", m.Name(), renderPoint(dp), renderMap(rm.Resource().Attributes()), renderMap(dp.Attributes())))
					}
				}
			}
		}
	}
	for _, ld := range s.Logs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					out = append(out, fmt.Sprintf("log %s %s %s", lr.Body().AsString(), renderMap(rl.Resource().Attributes()), renderMap(lr.Attributes())))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func renderPoint(dp pmetric.NumberDataPoint) string {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeDouble {
		return fmt.Sprintf("%g", dp.DoubleValue())
	}
	return fmt.Sprintf("%d", dp.IntValue())
}

// compareSignals sends in to both sides and compares every item that comes out. Ours is
// shut down once the input is sent, which delivers all it holds; the Collector's output is
// then awaited until it has as many items (each signal's count in atLeast is a floor, so a
// comparison of nothing cannot pass).
func compareSignals(t *testing.T, yaml, toml string, in input, atLeast map[pipeline.Signal]int) []string {
	t.Helper()
	ctx := testContext(t)
	oursSink, theirsSink := testutil.NewSink(t), testutil.NewSink(t)
	theirs, theirCtx := startCollector(t, ctx, yaml, theirsSink.GRPCAddr)
	ours, drain := startOurs(t, toml, oursSink.GRPCAddr)
	send(t, ctx, ours, in)
	drain()
	send(t, theirCtx, theirs, in)
	for sig, n := range atLeast {
		got := oursSink.Items(sig)
		if got < n {
			t.Fatalf("ours passed %d %s, want at least %d", got, sig.ItemName(), n)
		}
		if err := theirsSink.WaitItems(theirCtx, sig, got); err != nil {
			t.Fatalf("Collector: %v", err)
		}
	}
	o, c := renderItems(oursSink), renderItems(theirsSink)
	if d := diff(o, c); d != "" {
		t.Errorf("items differ (%d ours, %d the Collector's):\n%s", len(o), len(c), d)
	}
	return o
}

// The resource and attributes processors against the Collector's: every action (insert,
// update, upsert, delete by key and pattern, hash, extract, convert to each type, from_attribute)
// on values of every type, with include by service regexp and exclude by attribute.
func TestResourceAndAttributesMatchCollector(t *testing.T) {
	n := 2 * 3 * 14
	items := compareSignals(t, attributesYAML, attributesTOML, attributesInput(),
		map[pipeline.Signal]int{pipeline.SignalTraces: n, pipeline.SignalMetrics: n + 6, pipeline.SignalLogs: n})
	t.Logf("%d spans, points and log records compared", len(items))
}
