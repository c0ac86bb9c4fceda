package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// connectorsConfig joins pipelines three ways: two trace pipelines forward into one, whose
// spans are also counted into a metrics pipeline by service, and logs are routed by tenant.
func connectorsConfig(traces, counts, acme, other string) string {
	return fmt.Sprintf(`
[admin]
endpoint = "127.0.0.1:0"
[receivers.otlp.grpc]
endpoint = "127.0.0.1:0"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[receivers."otlp/b".grpc]
endpoint = "127.0.0.1:0"
[receivers."otlp/b".http]
endpoint = "127.0.0.1:0"
[exporters."otlp/traces"]
endpoint = %q
tls = { insecure = true }
[exporters."otlp/counts"]
endpoint = %q
tls = { insecure = true }
[exporters."otlp/acme"]
endpoint = %q
tls = { insecure = true }
[exporters."otlp/other"]
endpoint = %q
tls = { insecure = true }
[connectors.forward]
[connectors.count.spans."spans.by.service"]
description = "spans per service"
attributes = [{ key = "service.name" }, { key = "tier", default_value = "none" }]
[connectors.routing]
default_pipelines = ["logs/other"]
table = [
  { condition = 'attributes["tenant"] == "acme"', pipelines = ["logs/acme"] },
]

[pipelines."traces/a"]
receivers = ["otlp"]
exporters = ["forward"]
[pipelines."traces/b"]
receivers = ["otlp/b"]
exporters = ["forward"]
[pipelines."traces/out"]
receivers = ["forward"]
exporters = ["otlp/traces", "count"]
[pipelines."metrics/counts"]
receivers = ["count"]
exporters = ["otlp/counts"]
[pipelines."logs/in"]
receivers = ["otlp"]
exporters = ["routing"]
[pipelines."logs/acme"]
receivers = ["routing"]
exporters = ["otlp/acme"]
[pipelines."logs/other"]
receivers = ["routing"]
exporters = ["otlp/other"]
`, traces, counts, acme, other)
}

func spansOf(service string, names ...string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	for i, n := range names {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(n)
		sp.SetTraceID([16]byte{1, byte(i + 1)})
		sp.SetSpanID([8]byte{2, byte(i + 1)})
		sp.SetStartTimestamp(1_000_000_000)
		sp.SetEndTimestamp(2_000_000_000)
		if n == "db" {
			sp.Attributes().PutStr("tier", "storage")
		}
	}
	return td
}

func logsOf(tenants ...string) plog.Logs {
	ld := plog.NewLogs()
	for _, t := range tenants {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("tenant", t)
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("from " + t)
	}
	return ld
}

// Connectors carry data between pipelines of the same and of another signal: spans from two
// receivers meet in one pipeline through forward, are counted into metrics through count, and
// log resources go to the pipeline of their tenant through routing, the rest to the default.
func TestConnectorsEndToEnd(t *testing.T) {
	traces, counts, acme, other := testutil.NewSink(t), testutil.NewSink(t), testutil.NewSink(t), testutil.NewSink(t)
	cfg, err := config.Parse([]byte(connectorsConfig(traces.GRPCAddr, counts.GRPCAddr, acme.GRPCAddr, other.GRPCAddr)), noEnvVars)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())

	send := func(receiver string, f func(*grpc.ClientConn) error) {
		t.Helper()
		addr, _ := s.ReceiverAddrs(receiver)
		conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := f(conn); err != nil {
			t.Fatal(err)
		}
	}
	send("otlp", func(c *grpc.ClientConn) error {
		_, err := ptraceotlp.NewGRPCClient(c).Export(ctx, ptraceotlp.NewExportRequestFromTraces(spansOf("shop", "get", "db")))
		return err
	})
	send("otlp/b", func(c *grpc.ClientConn) error {
		_, err := ptraceotlp.NewGRPCClient(c).Export(ctx, ptraceotlp.NewExportRequestFromTraces(spansOf("cart", "put")))
		return err
	})
	send("otlp", func(c *grpc.ClientConn) error {
		_, err := plogotlp.NewGRPCClient(c).Export(ctx, plogotlp.NewExportRequestFromLogs(logsOf("acme", "globex", "acme")))
		return err
	})
	for _, w := range []struct {
		sink *testutil.Sink
		sig  pipeline.Signal
		n    int
	}{{traces, pipeline.SignalTraces, 3}, {counts, pipeline.SignalMetrics, 3}, {acme, pipeline.SignalLogs, 2}, {other, pipeline.SignalLogs, 1}} {
		if err := w.sink.WaitItems(ctx, w.sig, w.n); err != nil {
			t.Fatalf("waiting for %d %s: %v", w.n, w.sig, err)
		}
	}
	var got []string
	for _, md := range counts.Metrics() {
		got = append(got, countPoints(md)...)
	}
	sort.Strings(got)
	want := "cart/none=1 shop/none=1 shop/storage=1"
	if strings.Join(got, " ") != want {
		t.Errorf("counts %q, want %q", strings.Join(got, " "), want)
	}
	tenants := func(s *testutil.Sink) string {
		var out []string
		for _, ld := range s.Logs() {
			for _, rl := range ld.ResourceLogs().All() {
				v, _ := rl.Resource().Attributes().Get("tenant")
				out = append(out, v.Str())
			}
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	if a, o := tenants(acme), tenants(other); a != "acme,acme" || o != "globex" {
		t.Errorf("routed logs: acme got %q, other got %q", a, o)
	}
	if n := traces.Items(pipeline.SignalTraces); n != 3 {
		t.Errorf("forwarded spans: %d, want 3", n)
	}
}

// countPoints renders each data point of spans.by.service as service/tier=count, checking
// the sum's shape on the way.
func countPoints(md pmetric.Metrics) []string {
	var out []string
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != "spans.by.service" || m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() ||
					m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityDelta {
					out = append(out, "unexpected metric "+m.Name())
					continue
				}
				for _, dp := range m.Sum().DataPoints().All() {
					svc, _ := dp.Attributes().Get("service.name")
					tier, _ := dp.Attributes().Get("tier")
					out = append(out, fmt.Sprintf("%s/%s=%d", svc.Str(), tier.Str(), dp.IntValue()))
				}
			}
		}
	}
	return out
}

// Validation names what is wrong with how connectors join pipelines.
func TestConnectorValidation(t *testing.T) {
	base := `
[receivers.otlp]
[exporters.debug]
[connectors.forward]
[connectors.count]
`
	for _, c := range []struct{ pipes, want string }{
		{`
[pipelines."traces/a"]
receivers = ["otlp"]
exporters = ["forward"]
[pipelines."traces/b"]
receivers = ["forward"]
exporters = ["forward"]
`, "connectors form a cycle: traces/b -> traces/b"},
		{`
[pipelines.traces]
receivers = ["otlp"]
exporters = ["forward"]
[pipelines.metrics]
receivers = ["forward"]
exporters = ["debug"]
`, "connectors.forward: cannot feed metrics pipelines from traces"},
		{`
[pipelines.traces]
receivers = ["otlp"]
exporters = ["count"]
`, "connectors.count: takes data but no pipeline lists it as a receiver"},
		{`
[pipelines.metrics]
receivers = ["count"]
exporters = ["debug"]
`, "connectors.count: feeds pipelines but no pipeline lists it as an exporter"},
		{`
[pipelines.traces]
receivers = ["otlp"]
exporters = ["count"]
[pipelines.logs]
receivers = ["count"]
exporters = ["debug"]
`, "connectors.count: cannot feed logs pipelines from traces"},
	} {
		_, err := config.Parse([]byte(base+c.pipes), noEnvVars)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v\nwant an error containing %q", err, c.want)
		}
	}
}

func noEnvVars(string) (string, bool) { return "", false }

// A connector joined to pipelines of two signals credits each input pipeline only with the
// exporters its own signal reaches (readiness and durability read this).
func TestConnectorReachesOnlyItsSignalsExporters(t *testing.T) {
	cfg, err := config.Parse([]byte(`
[receivers.otlp]
[exporters."debug/traces"]
[exporters."debug/logs"]
[connectors.forward]
[pipelines."traces/in"]
receivers = ["otlp"]
exporters = ["forward"]
[pipelines."traces/out"]
receivers = ["forward"]
exporters = ["debug/traces"]
[pipelines."logs/in"]
receivers = ["otlp"]
exporters = ["forward"]
[pipelines."logs/out"]
receivers = ["forward"]
exporters = ["debug/logs"]
`), noEnvVars)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if got := fmt.Sprint(s.graph.pipelines["traces/in"], s.graph.pipelines["logs/in"]); got != "[debug/traces] [debug/logs]" {
		t.Fatalf("exporters reached from traces/in and logs/in: %s", got)
	}
}
