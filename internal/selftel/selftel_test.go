package selftel

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// TestDashboardQueriesExistingMetrics keeps the shipped Grafana dashboard in step with the
// metrics the server really exposes.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	m := New()
	for _, sig := range pipeline.Signals {
		m.Request("grpc", sig, "OK", time.Millisecond)
		m.Error("grpc", sig, "invalid")
		m.Received(sig, "grpc", 1)
		m.Exported(sig, "debug", 1)
		m.Dropped(sig, ReasonQueueFull, 1)
		m.Refused(sig, ReasonMemoryLimit, 1)
	}
	m.ConnDelta("grpc", 1)
	m.QueueSize("batch/traces", 1, 2)
	m.BatchSent("traces", "size")
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	dash, err := os.ReadFile("../../deploy/grafana/otlp-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`\b(otlp_[a-z_]+|process_[a-z_]+|go_[a-z_]+)`).FindAllString(string(dash), -1)
	if len(names) == 0 {
		t.Fatal("dashboard queries no metric")
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if !have[base] {
			t.Errorf("dashboard queries %s, which the server does not expose", n)
		}
	}
	for _, want := range []string{"otlp_requests_total", "otlp_errors_total", "otlp_latency_seconds", "otlp_received_spans_total", "otlp_exported_log_records_total", "otlp_dropped_metric_points_total", "otlp_queue_size", "otlp_active_connections"} {
		if !have[want] {
			t.Errorf("missing %s", want)
		}
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.Request("grpc", pipeline.SignalTraces, "OK", 0)
	m.Received(pipeline.SignalTraces, "grpc", 1)
	m.Dropped(pipeline.SignalLogs, ReasonInvalid, 1)
	m.QueueSize("x", 1, 1)
}

// TestTotalsMatchTheSeries: the typed counters the SDK reads agree with the exposed series.
func TestTotalsMatchTheSeries(t *testing.T) {
	m := New()
	m.Exported(pipeline.SignalTraces, "a", 5)
	m.Exported(pipeline.SignalTraces, "b", 2)
	m.Dropped(pipeline.SignalLogs, ReasonShutdown, 3)
	m.Dropped(pipeline.SignalLogs, "custom", 1)
	m.Retry("a")
	m.Retry("b")
	m.Kept("a", 4)
	m.Kept("a", 6) // a gauge: the last value counts
	m.Kept("b", 1)
	got := m.Totals()
	if got.Exported[pipeline.SignalTraces] != 7 || got.Exported[pipeline.SignalLogs] != 0 {
		t.Errorf("exported %v", got.Exported)
	}
	if d := got.Dropped[pipeline.SignalLogs]; len(d) != 2 || d[ReasonShutdown] != 3 || d["custom"] != 1 {
		t.Errorf("dropped logs %v", d)
	}
	if len(got.Dropped[pipeline.SignalTraces]) != 0 {
		t.Errorf("dropped traces %v, want none", got.Dropped[pipeline.SignalTraces])
	}
	if got.Retries != 2 || got.Kept != 7 {
		t.Errorf("retries %d kept %d", got.Retries, got.Kept)
	}
	var nilM *Metrics
	if z := nilM.Totals(); z.Retries != 0 || z.Dropped[0] == nil {
		t.Errorf("nil metrics: %+v", z)
	}
}
