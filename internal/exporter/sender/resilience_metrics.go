package sender

import "github.com/otlp-dev/otlp/resilience"

// ResilienceMetrics reports the sender's retry policy as a resilience.Metrics snapshot, so the
// server can publish it with the other policies (resilience.RegisterOTelMetrics).
func (s *Sender) ResilienceMetrics() resilience.Metrics {
	m := resilience.Metrics{Name: "exporter/" + s.set.Name}
	if s.retry != nil {
		rm := s.retry.Metrics()
		m.Retries, m.RetriesExhausted, m.RetryBudgetRejected = rm.Retries, rm.Exhausted, rm.BudgetRejected
	}
	return m
}
