package compare

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

func samplerConfigs(settings map[string]string) (string, string) {
	yaml := `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: RECEIVER
processors:
  probabilistic_sampler:`
	toml := `
[receivers.otlp.grpc]
endpoint = "RECEIVER"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[processors.probabilistic_sampler]`
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		yaml += fmt.Sprintf("\n    %s: %s", k, settings[k])
		toml += fmt.Sprintf("\n%s = %s", k, settings[k])
	}
	yaml += `
exporters:
  otlp:
    endpoint: SINK
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [probabilistic_sampler]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [probabilistic_sampler]
      exporters: [otlp]
`
	toml += `
[exporters.otlp]
endpoint = "SINK"
tls = { insecure = true }
[pipelines.traces]
receivers = ["otlp"]
processors = ["probabilistic_sampler"]
exporters = ["otlp"]
[pipelines.logs]
receivers = ["otlp"]
processors = ["probabilistic_sampler"]
exporters = ["otlp"]
`
	return yaml, toml
}

// samplerInput: many trace IDs (spread over the randomness range), arriving thresholds
// consistent and not, explicit randomness, other vendors' tracestate, a bad tracestate, log
// records without a trace ID, and sampling priorities. (Spans without a trace ID are refused
// by otlp-server's receiver, so they are not part of the comparison.)
func samplerInput() input {
	var in input
	states := []string{"", "", "", "ot=th:8", "ot=th:c", "vendor=a,ot=th:4;x:y", "ot=rv:fedcba98765432", "ot=th:e;rv:0123456789abcd", "ot=th:zz", "ot=th:1,other=b"}
	for req := range 4 {
		td := ptrace.NewTraces()
		ld := plog.NewLogs()
		ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for i := range 250 {
			n := req*250 + i + 1
			id := pcommon.TraceID{byte(n >> 8), byte(n), 0, 0, 0, 0, 0, 0, 0,
				byte(n * 37), byte(n * 101), byte(n * 13), byte(n * 7), byte(n * 3), byte(n), byte(n >> 2)}
			sp := ss.Spans().AppendEmpty()
			sp.SetName(fmt.Sprintf("s%d", n))
			sp.SetTraceID(id)
			sp.SetSpanID(pcommon.SpanID{1, byte(n), byte(n >> 8)})
			sp.TraceState().FromRaw(states[n%len(states)])
			switch n % 50 {
			case 7:
				sp.Attributes().PutInt("sampling.priority", 0)
			case 8:
				sp.Attributes().PutInt("sampling.priority", 1)
			case 9:
				sp.Attributes().PutStr("sampling.priority", "2.5")
			}
			lr := lrs.AppendEmpty()
			lr.Body().SetStr(fmt.Sprintf("l%d", n))
			lr.SetTraceID(id)
			if n%61 == 3 {
				lr.SetTraceID(pcommon.NewTraceIDEmpty())
			}
			switch n % 9 {
			case 4:
				lr.Attributes().PutStr("sampling.threshold", "8")
			case 5:
				lr.Attributes().PutStr("sampling.randomness", "fedcba98765432")
			}
		}
		in.traces, in.logs = append(in.traces, td), append(in.logs, ld)
	}
	return in
}

// The probabilistic sampler against the Collector's, in both consistent modes, with and
// without failing closed and at two precisions: the same spans and records are kept and carry
// the same tracestate and sampling.threshold.
func TestProbabilisticSamplerMatchesCollector(t *testing.T) {
	for _, settings := range []map[string]string{
		{"sampling_percentage": "30", "mode": `"proportional"`, "sampling_precision": "2"},
		{"sampling_percentage": "1", "mode": `"proportional"`, "sampling_precision": "2"},
		{"sampling_percentage": "99", "mode": `"proportional"`, "sampling_precision": "2"},
		{"sampling_percentage": "0.1", "mode": `"proportional"`, "sampling_precision": "2"},
		{"sampling_percentage": "1", "mode": `"proportional"`, "sampling_precision": "6"},
		{"sampling_percentage": "12.5", "mode": `"equalizing"`},
		{"sampling_percentage": "66.6", "mode": `"proportional"`, "fail_closed": "false"},
		{"sampling_percentage": "0.4", "mode": `"equalizing"`, "sampling_precision": "3"},
	} {
		t.Run(fmt.Sprint(settings), func(t *testing.T) {
			yaml, toml := samplerConfigs(settings)
			items := compareSignals(t, yaml, toml, samplerInput(), map[pipeline.Signal]int{pipeline.SignalTraces: 1, pipeline.SignalLogs: 1})
			t.Logf("%d spans and log records kept on both sides and compared", len(items))
		})
	}
}
