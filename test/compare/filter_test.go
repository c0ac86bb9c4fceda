package compare

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// The conditions, written once for both sides (YAML and TOML quote them alike here).
var filterConds = struct{ span, spanevent, metric, datapoint, log []string }{
	span: []string{
		`resource.attributes["service.name"] == "noisy"`,
		`IsMatch(name, "^health")`,
		`attributes["http.route"] == "/metrics" and kind == SPAN_KIND_SERVER`,
		`IsMatch(attributes["user.agent"], "bot|crawler")`,
		`end_time - start_time < Duration("2ms") and status.code != STATUS_CODE_ERROR`,
		`attributes["sampled"] == false`,
	},
	spanevent: []string{`name == "cache.miss"`},
	metric:    []string{`name == "debug.gauge"`, `IsMatch(name, "^tmp\\.")`},
	datapoint: []string{`attributes["env"] == "test"`, `value_int > 900`, `value_double < 0.0`},
	log:       []string{`severity_number < SEVERITY_NUMBER_WARN`, `IsMatch(body, "password")`, `attributes["drop"] != nil`},
}

func yamlList(xs []string) string {
	out := ""
	for _, x := range xs {
		out += fmt.Sprintf("\n        - %q", x)
	}
	return out
}

func tomlList(xs []string) string {
	out := "["
	for i, x := range xs {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", x)
	}
	return out + "]"
}

func filterConfigs() (string, string) {
	yaml := `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: RECEIVER
processors:
  filter:
    error_mode: ignore
    traces:
      span:` + yamlList(filterConds.span) + `
      spanevent:` + yamlList(filterConds.spanevent) + `
    metrics:
      metric:` + yamlList(filterConds.metric) + `
      datapoint:` + yamlList(filterConds.datapoint) + `
    logs:
      log_record:` + yamlList(filterConds.log) + `
exporters:
  otlp:
    endpoint: SINK
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [filter]
      exporters: [otlp]
    metrics:
      receivers: [otlp]
      processors: [filter]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [filter]
      exporters: [otlp]
`
	toml := `
[receivers.otlp.grpc]
endpoint = "RECEIVER"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[processors.filter]
error_mode = "ignore"
traces = { span = ` + tomlList(filterConds.span) + `, spanevent = ` + tomlList(filterConds.spanevent) + ` }
metrics = { metric = ` + tomlList(filterConds.metric) + `, datapoint = ` + tomlList(filterConds.datapoint) + ` }
logs = { log_record = ` + tomlList(filterConds.log) + ` }
[exporters.otlp]
endpoint = "SINK"
tls = { insecure = true }
[pipelines.traces]
receivers = ["otlp"]
processors = ["filter"]
exporters = ["otlp"]
[pipelines.metrics]
receivers = ["otlp"]
processors = ["filter"]
exporters = ["otlp"]
[pipelines.logs]
receivers = ["otlp"]
processors = ["filter"]
exporters = ["otlp"]
`
	return yaml, toml
}

// filterInput varies every property a condition looks at; the keep markers (a marker
// attribute per item) let the test count what is left on each side.
func filterInput() (input, map[pipeline.Signal]int) {
	var in input
	const base = 1_700_000_000_000_000_000
	keep := map[pipeline.Signal]int{}
	for req := range 2 {
		td := ptrace.NewTraces()
		for r, svc := range []string{"shop", "noisy", "cart"} {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", svc)
			ss := rs.ScopeSpans().AppendEmpty()
			for i := range 24 {
				n := req*1000 + r*100 + i
				sp := ss.Spans().AppendEmpty()
				sp.SetTraceID(pcommon.TraceID{5, byte(req), byte(r), byte(i)})
				sp.SetSpanID(pcommon.SpanID{6, byte(req), byte(r), byte(i)})
				sp.SetName([]string{"GET /cart", "healthcheck", "db.query", "POST /pay"}[i%4])
				sp.SetKind([]ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindClient, ptrace.SpanKindInternal}[i%3])
				sp.SetStartTimestamp(pcommon.Timestamp(base + n*10_000_000))
				sp.SetEndTimestamp(sp.StartTimestamp() + pcommon.Timestamp([]int{1, 5, 50}[i%3])*1_000_000)
				if i%5 == 0 {
					sp.Status().SetCode(ptrace.StatusCodeError)
				}
				sp.Attributes().PutInt("seq", int64(n))
				sp.Attributes().PutStr("http.route", []string{"/cart", "/metrics"}[i%2])
				if i%6 == 1 {
					sp.Attributes().PutStr("user.agent", "Googlebot/2.1")
				}
				if i%7 == 2 {
					sp.Attributes().PutBool("sampled", i%2 == 0)
				}
				for e, name := range []string{"cache.miss", "retry"} {
					if (i+e)%3 == 0 {
						sp.Events().AppendEmpty().SetName(name)
					}
				}
			}
		}
		in.traces = append(in.traces, td)

		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "db")
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		for _, name := range []string{"requests", "debug.gauge", "tmp.cache", "latency"} {
			m := ms.AppendEmpty()
			m.SetName(name)
			var pts pmetric.NumberDataPointSlice
			if name == "requests" {
				pts = m.SetEmptySum().DataPoints()
			} else {
				pts = m.SetEmptyGauge().DataPoints()
			}
			for i := range 10 {
				dp := pts.AppendEmpty()
				dp.SetTimestamp(pcommon.Timestamp(base + req*1000 + i))
				if name == "latency" {
					dp.SetDoubleValue(float64(i) - 2.5)
				} else {
					dp.SetIntValue(int64(i*100 + req))
				}
				dp.Attributes().PutStr("env", []string{"prod", "test", "prod"}[i%3])
				dp.Attributes().PutInt("seq", int64(req*1000+i))
			}
		}
		in.metrics = append(in.metrics, md)

		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "api")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range 20 {
			lr := lrs.AppendEmpty()
			lr.SetSeverityNumber([]plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberWarn, plog.SeverityNumberError, plog.SeverityNumberDebug, plog.SeverityNumberUnspecified}[i%5])
			lr.Body().SetStr([]string{"user logged in", "password reset for bob", "disk full"}[i%3])
			if i%4 == 3 {
				lr.Attributes().PutStr("drop", "yes")
			}
			lr.Attributes().PutInt("seq", int64(req*1000+i))
		}
		in.logs = append(in.logs, ld)
	}
	keep[pipeline.SignalTraces], keep[pipeline.SignalMetrics], keep[pipeline.SignalLogs] = 20, 10, 5
	return in, keep
}

// The filter processor against the Collector's, with OTTL conditions on every context:
// service, name regexp, attribute equality and regexp, kind, status, duration, events, metric
// names, point attributes and values, severity, body.
func TestFilterMatchesCollector(t *testing.T) {
	yaml, toml := filterConfigs()
	in, atLeast := filterInput()
	items := compareSignals(t, yaml, toml, in, atLeast)
	t.Logf("%d items kept on both sides and compared", len(items))
}
