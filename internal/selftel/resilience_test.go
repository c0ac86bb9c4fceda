package selftel

import (
	"testing"

	"github.com/otlp-dev/otlp/resilience"
)

func TestResilienceMetricsAtScrapeTime(t *testing.T) {
	m := New()
	snap := resilience.Metrics{
		Name: "exporter/otlp", Successes: 7, Failures: 2, Rejected: 3, RejectedCircuitOpen: 3,
		Retries: 5, RetriesExhausted: 1, RetryBudgetRejected: 4, Timeouts: 6, Fallbacks: 8, Degraded: true,
		Breaker: &resilience.BreakerMetrics{State: resilience.StateOpen, Transitions: [3]uint64{1, 2, 3}},
	}
	unregister := m.RegisterResilience(func() []resilience.Metrics { return []resilience.Metrics{snap} })
	p := "exporter/otlp"
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"resilience_calls_total", map[string]string{"policy": p, "outcome": "success"}, 7},
		{"resilience_calls_total", map[string]string{"policy": p, "outcome": "failure"}, 2},
		{"resilience_calls_total", map[string]string{"policy": p, "outcome": "rejected"}, 3},
		{"resilience_rejections_total", map[string]string{"policy": p, "reason": resilience.ReasonCircuitOpen}, 3},
		{"resilience_rejections_total", map[string]string{"policy": p, "reason": resilience.ReasonRetryBudget}, 4},
		{"resilience_retries_total", map[string]string{"policy": p}, 5},
		{"resilience_retries_exhausted_total", map[string]string{"policy": p}, 1},
		{"resilience_timeouts_total", map[string]string{"policy": p}, 6},
		{"resilience_fallbacks_total", map[string]string{"policy": p}, 8},
		{"resilience_degraded", map[string]string{"policy": p}, 1},
		{"resilience_circuit_breaker_state", map[string]string{"policy": p, "state": resilience.StateOpen.String()}, 1},
		{"resilience_circuit_breaker_state", map[string]string{"policy": p, "state": resilience.StateClosed.String()}, 0},
		{"resilience_circuit_breaker_transitions_total", map[string]string{"policy": p, "state": resilience.StateOpen.String()}, float64(snap.Breaker.Transitions[resilience.StateOpen])},
	} {
		got, ok := value(t, m.Registry, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	snap.Retries = 9 // read again at the next scrape
	if got, _ := value(t, m.Registry, "resilience_retries_total", map[string]string{"policy": p}); got != 9 {
		t.Errorf("retries after change = %v, want 9 (read at scrape time)", got)
	}
	unregister()
	if _, ok := value(t, m.Registry, "resilience_retries_total", map[string]string{"policy": p}); ok {
		t.Error("series still published after unregister")
	}
}
