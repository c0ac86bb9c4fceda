package selftel

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// value returns the value of the series of family name whose labels are exactly labels, and
// whether it exists.
func value(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return metricValue(m), true
		}
	}
	return 0, false
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return 0
}

func TestTrackQueueAtScrapeTime(t *testing.T) {
	m := New()
	calls := 0
	st := QueueStats{Records: 3, InFlight: 1, DiskBytes: 4096, MemoryBytes: 512, OldestAge: 1500 * time.Millisecond, CorruptRecords: 2}
	untrack := m.TrackQueue("otlp/a", func() QueueStats { calls++; return st })
	ex := map[string]string{"exporter": "otlp/a"}
	for name, want := range map[string]float64{
		"otlp_queue_disk_bytes":              4096,
		"otlp_queue_memory_bytes":            512,
		"otlp_queue_oldest_item_age_seconds": 1.5,
		"otlp_queue_records":                 3,
		"otlp_queue_in_flight_records":       1,
		"otlp_queue_corrupt_records_total":   2,
	} {
		if got, ok := value(t, m.Registry, name, ex); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if calls == 0 {
		t.Fatal("stats never read")
	}

	// A replacement (reload) takes over; the old untrack must not remove it.
	untrack2 := m.TrackQueue("otlp/a", func() QueueStats { return QueueStats{DiskBytes: 1} })
	untrack()
	if got, ok := value(t, m.Registry, "otlp_queue_disk_bytes", ex); !ok || got != 1 {
		t.Errorf("after replacement: %v (present %v), want 1", got, ok)
	}
	untrack2()
	if _, ok := value(t, m.Registry, "otlp_queue_disk_bytes", ex); ok {
		t.Error("series still present after untrack")
	}
}

func TestTrackEndpoints(t *testing.T) {
	m := New()
	untrack := m.TrackEndpoints("otlp/lb", func() []EndpointState {
		return []EndpointState{{Address: "a:4317", Up: true, Successes: 5}, {Address: "b:4317", Failures: 3}}
	})
	defer untrack()
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"otlp_exporter_endpoint_up", map[string]string{"exporter": "otlp/lb", "endpoint": "a:4317"}, 1},
		{"otlp_exporter_endpoint_up", map[string]string{"exporter": "otlp/lb", "endpoint": "b:4317"}, 0},
		{"otlp_exporter_endpoint_attempts_total", map[string]string{"exporter": "otlp/lb", "endpoint": "a:4317", "outcome": "success"}, 5},
		{"otlp_exporter_endpoint_attempts_total", map[string]string{"exporter": "otlp/lb", "endpoint": "b:4317", "outcome": "failure"}, 3},
	} {
		if got, ok := value(t, m.Registry, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
}

func TestRetriesAndKept(t *testing.T) {
	m := New()
	m.Retry("otlp/a")
	m.Retry("otlp/a")
	m.Kept("otlp/a", 42)
	if got, _ := value(t, m.Registry, "otlp_export_retries_total", map[string]string{"exporter": "otlp/a"}); got != 2 {
		t.Errorf("retries = %v, want 2", got)
	}
	if got, _ := value(t, m.Registry, "otlp_queue_kept_items", map[string]string{"exporter": "otlp/a"}); got != 42 {
		t.Errorf("kept = %v, want 42", got)
	}
	var nilM *Metrics
	nilM.Retry("x")
	nilM.Kept("x", 1)
	nilM.TrackQueue("x", nil)()
	nilM.TrackEndpoints("x", nil)()
}
