package selftel

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/otlp-dev/otlp/resilience"
)

// resilienceCollector publishes resilience policy snapshots, read at scrape time, under the
// names the OpenTelemetry instruments of resilience.RegisterOTelMetrics get in Prometheus.
// It is native rather than bridged through the OpenTelemetry SDK so that the server does not
// link (and keep resident) a second metrics SDK for nine series.
type resilienceCollector struct {
	source                                                 func() []resilience.Metrics
	calls, rejections, retries, exhausted, timeouts, fallb *prometheus.Desc
	transitions, state, degraded                           *prometheus.Desc
}

// RegisterResilience publishes what source returns (one snapshot per policy, labelled
// policy) on the registry; the returned function unregisters it.
func (m *Metrics) RegisterResilience(source func() []resilience.Metrics) (unregister func()) {
	p := []string{"policy"}
	c := &resilienceCollector{
		source:      source,
		calls:       prometheus.NewDesc("resilience_calls_total", "Calls run under a resilience policy, by outcome.", []string{"policy", "outcome"}, nil),
		rejections:  prometheus.NewDesc("resilience_rejections_total", "Calls refused by a policy without running, by reason.", []string{"policy", "reason"}, nil),
		retries:     prometheus.NewDesc("resilience_retries_total", "Retries made.", p, nil),
		exhausted:   prometheus.NewDesc("resilience_retries_exhausted_total", "Calls that failed after their last allowed attempt.", p, nil),
		timeouts:    prometheus.NewDesc("resilience_timeouts_total", "Attempts that ran past their timeout.", p, nil),
		fallb:       prometheus.NewDesc("resilience_fallbacks_total", "Results served by a fallback.", p, nil),
		transitions: prometheus.NewDesc("resilience_circuit_breaker_transitions_total", "Circuit breaker state changes, by the state entered.", []string{"policy", "state"}, nil),
		state:       prometheus.NewDesc("resilience_circuit_breaker_state", "Circuit breaker state: 1 for the current state.", []string{"policy", "state"}, nil),
		degraded:    prometheus.NewDesc("resilience_degraded", "1 while the policy runs in degraded mode.", p, nil),
	}
	m.Registry.MustRegister(c)
	return func() { m.Registry.Unregister(c) }
}

func (c *resilienceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.calls, c.rejections, c.retries, c.exhausted, c.timeouts, c.fallb, c.transitions, c.state, c.degraded} {
		ch <- d
	}
}

func (c *resilienceCollector) Collect(ch chan<- prometheus.Metric) {
	states := [...]resilience.State{resilience.StateClosed, resilience.StateHalfOpen, resilience.StateOpen}
	for _, m := range c.source() {
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{m.Name}, labels...)...)
		}
		gauge := func(d *prometheus.Desc, on bool, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, b2f(on), append([]string{m.Name}, labels...)...)
		}
		counter(c.calls, m.Successes, "success")
		counter(c.calls, m.Failures, "failure")
		counter(c.calls, m.Rejected, "rejected")
		counter(c.calls, m.Canceled, "canceled")
		counter(c.rejections, m.RejectedCircuitOpen, resilience.ReasonCircuitOpen)
		counter(c.rejections, m.RejectedBulkheadFull, resilience.ReasonBulkheadFull)
		counter(c.rejections, m.RejectedRateLimited, resilience.ReasonRateLimited)
		counter(c.rejections, m.RetryBudgetRejected, resilience.ReasonRetryBudget)
		counter(c.retries, m.Retries)
		counter(c.exhausted, m.RetriesExhausted)
		counter(c.timeouts, m.Timeouts)
		counter(c.fallb, m.Fallbacks)
		gauge(c.degraded, m.Degraded)
		if b := m.Breaker; b != nil {
			for _, s := range states {
				gauge(c.state, b.State == s, s.String())
				counter(c.transitions, b.Transitions[s], s.String())
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
