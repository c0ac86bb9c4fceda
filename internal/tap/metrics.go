package tap

import "github.com/prometheus/client_golang/prometheus"

// Collector publishes a hub's totals when scraped, so that the data path pays nothing for
// them: otlp_tap_batches_total and otlp_tap_items_total by subscriber, position and outcome
// (delivered or skipped because the subscriber was full), and otlp_tap_held_bytes.
type Collector struct {
	hub                  *Hub
	batches, items, held *prometheus.Desc
}

// NewCollector returns the collector of h's totals.
func NewCollector(h *Hub) *Collector {
	l := []string{"subscriber", "position", "outcome"}
	return &Collector{hub: h,
		batches: prometheus.NewDesc("otlp_tap_batches_total", "Batches a side service's tap was handed (outcome=delivered) or had to skip because it held its bound (outcome=skipped); skipping never slows the pipeline.", l, nil),
		items:   prometheus.NewDesc("otlp_tap_items_total", "Spans, metric points or log records a side service's tap was handed (outcome=delivered) or skipped (outcome=skipped).", l, nil),
		held:    prometheus.NewDesc("otlp_tap_held_bytes", "Bytes a side service's taps hold now (handed to it and not yet released).", l[:2], nil),
	}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.batches
	ch <- c.items
	ch <- c.held
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.hub.Totals() {
		pos := t.Position.String()
		counter := func(d *prometheus.Desc, v uint64, outcome string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), t.Subscriber, pos, outcome)
		}
		counter(c.batches, t.Batches, "delivered")
		counter(c.batches, t.SkippedBatches, "skipped")
		counter(c.items, t.Items, "delivered")
		counter(c.items, t.SkippedItems, "skipped")
		ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(t.HeldBytes), t.Subscriber, pos)
	}
}
