package otlpgrpc

import "github.com/otlp-dev/otlp/resilience"

// ResilienceMetrics reports the exporter's retry policy (see sender.Sender.ResilienceMetrics).
func (e *Exporter) ResilienceMetrics() resilience.Metrics { return e.sender.ResilienceMetrics() }
