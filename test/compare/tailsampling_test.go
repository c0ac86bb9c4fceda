package compare

import (
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

const tailYAML = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: RECEIVER
processors:
  tail_sampling:
    decision_wait: 1s
    num_traces: 100000
    policies:
      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
      - {name: slow, type: latency, latency: {threshold_ms: 400}}
      - {name: band, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 150}}
      - {name: ten-percent, type: probabilistic, probabilistic: {sampling_percentage: 10}}
      - {name: salted, type: probabilistic, probabilistic: {sampling_percentage: 5, hash_salt: "s1"}}
      - {name: vip, type: string_attribute, string_attribute: {key: tenant, values: [vip, gold]}}
      - {name: beta, type: string_attribute, string_attribute: {key: release, values: ["^beta-"], enabled_regex_matching: true}}
      - {name: retries, type: numeric_attribute, numeric_attribute: {key: retries, min_value: 3, max_value: 5}}
      - name: checkout-errors
        type: and
        and:
          and_sub_policy:
            - {name: svc, type: string_attribute, string_attribute: {key: service.name, values: [checkout]}}
            - {name: http5xx, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 500, max_value: 599}}
      INVERT
exporters:
  otlp:
    endpoint: SINK
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [tail_sampling]
      exporters: [otlp]
`

const tailTOML = `
[receivers.otlp.grpc]
endpoint = "RECEIVER"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[processors.tail_sampling]
decision_wait = "1s"
num_traces = 100000
policies = [
  { name = "errors", type = "status_code", status_code = { status_codes = ["ERROR"] } },
  { name = "slow", type = "latency", latency = { threshold_ms = 400 } },
  { name = "band", type = "latency", latency = { threshold_ms = 100, upper_threshold_ms = 150 } },
  { name = "ten-percent", type = "probabilistic", probabilistic = { sampling_percentage = 10 } },
  { name = "salted", type = "probabilistic", probabilistic = { sampling_percentage = 5, hash_salt = "s1" } },
  { name = "vip", type = "string_attribute", string_attribute = { key = "tenant", values = ["vip", "gold"] } },
  { name = "beta", type = "string_attribute", string_attribute = { key = "release", values = ["^beta-"], enabled_regex_matching = true } },
  { name = "retries", type = "numeric_attribute", numeric_attribute = { key = "retries", min_value = 3, max_value = 5 } },
  { name = "checkout-errors", type = "and", and = { and_sub_policy = [
    { name = "svc", type = "string_attribute", string_attribute = { key = "service.name", values = ["checkout"] } },
    { name = "http5xx", type = "numeric_attribute", numeric_attribute = { key = "http.status_code", min_value = 500, max_value = 599 } },
  ] } },
  INVERT
]
[exporters.otlp]
endpoint = "SINK"
tls = { insecure = true }
[pipelines.traces]
receivers = ["otlp"]
processors = ["tail_sampling"]
exporters = ["otlp"]
`

// tailInput: 600 traces of 4 spans over two services, each trace sent in two requests, with
// errors, durations, tenants, releases, retries, status codes and synthetic markers spread
// so that every policy keeps some traces and vetoes some.
func tailInput() input {
	var in input
	const traces = 600
	for half := range 2 {
		td := ptrace.NewTraces()
		for _, svc := range []string{"checkout", "search"} {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", svc)
			ss := rs.ScopeSpans().AppendEmpty()
			for n := range traces {
				if (n%2 == 0) != (svc == "checkout") {
					continue
				}
				for s := range 2 {
					sp := ss.Spans().AppendEmpty()
					sp.SetTraceID(pcommon.TraceID{7, byte(n >> 8), byte(n), byte(n * 31), byte(n * 17), 9, 9, 9, byte(n * 7), byte(n * 13), byte(n * 3), 1, 2, 3, byte(n), byte(n >> 3)})
					sp.SetSpanID(pcommon.SpanID{8, byte(n >> 8), byte(n), byte(half), byte(s)})
					sp.SetName(fmt.Sprintf("t%d-%d-%d", n, half, s))
					start := pcommon.Timestamp(1_700_000_000_000_000_000 + int64(half*50+s*10)*1_000_000)
					sp.SetStartTimestamp(start)
					sp.SetEndTimestamp(start + pcommon.Timestamp(int64(n%9)*60_000_000))
					if n%37 == 0 && half == 1 {
						sp.Status().SetCode(ptrace.StatusCodeError)
					}
					switch n % 11 {
					case 1:
						sp.Attributes().PutStr("tenant", "gold")
					case 2:
						sp.Attributes().PutStr("tenant", "bronze")
					}
					if n%13 == 4 {
						sp.Attributes().PutStr("release", "beta-7")
					}
					if n%17 == 2 {
						sp.Attributes().PutInt("retries", int64(n%7))
					}
					if n%5 == 0 {
						sp.Attributes().PutInt("http.status_code", int64(200+100*(n%4)))
					}
					if n%19 == 3 && s == 1 {
						sp.Attributes().PutStr("synthetic", "yes")
					}
				}
			}
		}
		in.traces = append(in.traces, td)
	}
	return in
}

// The tail sampler against the Collector's: the same traces are kept, whole, by status code,
// latency (with and without an upper bound), probabilistic hashing (default and own salt),
// string (exact and regexp), numeric and "and" policies, with an inverted match vetoing.
func TestTailSamplingMatchesCollector(t *testing.T) {
	for _, c := range []struct{ name, yaml, toml string }{
		{"policies", "", ""},
		// With an inverted match nearly every trace is kept, so it gets a run of its own.
		{"invert_match", `- {name: not-synthetic, type: numeric_attribute, numeric_attribute: {key: retries, min_value: 0, max_value: 2, invert_match: true}}`,
			`{ name = "not-synthetic", type = "numeric_attribute", numeric_attribute = { key = "retries", min_value = 0, max_value = 2, invert_match = true } },`},
	} {
		t.Run(c.name, func(t *testing.T) {
			yaml := strings.Replace(tailYAML, "INVERT", c.yaml, 1)
			toml := strings.Replace(tailTOML, "INVERT", c.toml, 1)
			items := compareSignals(t, yaml, toml, tailInput(), map[pipeline.Signal]int{pipeline.SignalTraces: 100})
			t.Logf("%d spans of 2400 kept on both sides and compared", len(items))
		})
	}
}
