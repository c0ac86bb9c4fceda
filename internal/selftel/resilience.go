package selftel

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otlp-dev/otlp/resilience"
)

// resilienceCollector publishes resilience policy snapshots, read at scrape time, as
// Prometheus series of resilience.Instruments (the names the OpenTelemetry instruments of
// resilience.RegisterOTelMetrics get in Prometheus). It is native rather than bridged through
// the OpenTelemetry SDK so that the server does not link (and keep resident) a second metrics
// SDK for nine series.
type resilienceCollector struct {
	source func() []resilience.Metrics
	insts  []resilience.Instrument
	descs  []*prometheus.Desc // by instrument
}

// RegisterResilience publishes what source returns (one snapshot per policy, labelled
// policy) on the registry; the returned function unregisters it.
func (m *Metrics) RegisterResilience(source func() []resilience.Metrics) (unregister func()) {
	c := &resilienceCollector{source: source, insts: resilience.Instruments()}
	for _, in := range c.insts {
		name := strings.ReplaceAll(in.Name, ".", "_")
		labels := []string{"policy"}
		if in.Label != "" {
			labels = append(labels, in.Label)
		}
		if !in.Gauge {
			name += "_total"
		}
		c.descs = append(c.descs, prometheus.NewDesc(name, in.Description, labels, nil))
	}
	m.Registry.MustRegister(c)
	return func() { m.Registry.Unregister(c) }
}

func (c *resilienceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *resilienceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.source() {
		m.Observe(func(i int, label string, v uint64) {
			kind, labels := prometheus.CounterValue, []string{m.Name}
			if c.insts[i].Gauge {
				kind = prometheus.GaugeValue
			}
			if c.insts[i].Label != "" {
				labels = append(labels, label)
			}
			ch <- prometheus.MustNewConstMetric(c.descs[i], kind, float64(v), labels...)
		})
	}
}
