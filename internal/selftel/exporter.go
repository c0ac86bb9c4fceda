package selftel

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueStats is what a durable queue reports at scrape time.
type QueueStats struct {
	Records     int   // records queued, in flight included
	InFlight    int   // records being delivered
	DiskBytes   int64 // bytes of the queue's files
	MemoryBytes int64 // bytes of records also kept in memory
	// OldestAge is the age of the oldest record not yet delivered (0 when empty).
	OldestAge time.Duration
	// CorruptRecords counts records found damaged on disk since the queue was opened.
	CorruptRecords int64
}

// EndpointState is what a load-balanced exporter reports about one endpoint at scrape time.
type EndpointState struct {
	Address string
	// Up is true when the balancer may pick the endpoint: not ejected, not marked down by
	// active checks, its breaker not open.
	Up                  bool
	Successes, Failures uint64
}

// exporterCollector reads the state of durable queues and balanced endpoints when scraped,
// so that nothing on the export path pays for it.
type exporterCollector struct {
	diskBytes, memBytes, oldest, records, inflight, corrupt *prometheus.Desc
	up, attempts                                            *prometheus.Desc

	mu        sync.Mutex
	queues    map[string]*queueSource    // guarded by mu; by exporter
	endpoints map[string]*endpointSource // guarded by mu; by exporter
}

type queueSource struct{ stats func() QueueStats }

type endpointSource struct{ list func() []EndpointState }

func newExporterCollector() *exporterCollector {
	ex := []string{"exporter"}
	return &exporterCollector{
		diskBytes: prometheus.NewDesc("otlp_queue_disk_bytes", "Bytes of a durable queue's files on disk, by exporter.", ex, nil),
		memBytes:  prometheus.NewDesc("otlp_queue_memory_bytes", "Bytes of a durable queue's records also kept in memory, by exporter.", ex, nil),
		oldest:    prometheus.NewDesc("otlp_queue_oldest_item_age_seconds", "Age of the oldest undelivered record in a durable queue, by exporter (0 when empty).", ex, nil),
		records:   prometheus.NewDesc("otlp_queue_records", "Records (batches) in a durable queue, in-flight ones included, by exporter.", ex, nil),
		inflight:  prometheus.NewDesc("otlp_queue_in_flight_records", "Records of a durable queue being delivered, by exporter.", ex, nil),
		corrupt:   prometheus.NewDesc("otlp_queue_corrupt_records_total", "Records of a durable queue found damaged on disk and skipped (their items are also in otlp_dropped_*_total{reason=\"corrupt\"}), since the queue was opened.", ex, nil),
		up:        prometheus.NewDesc("otlp_exporter_endpoint_up", "1 when a load-balanced endpoint may be picked (healthy), 0 when ejected, down or its breaker is open.", []string{"exporter", "endpoint"}, nil),
		attempts:  prometheus.NewDesc("otlp_exporter_endpoint_attempts_total", "Export attempts on a load-balanced endpoint, by outcome, since it joined the set.", []string{"exporter", "endpoint", "outcome"}, nil),
		queues:    map[string]*queueSource{},
		endpoints: map[string]*endpointSource{},
	}
}

func (c *exporterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.diskBytes, c.memBytes, c.oldest, c.records, c.inflight, c.corrupt, c.up, c.attempts} {
		ch <- d
	}
}

func (c *exporterCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	queues := make(map[string]*queueSource, len(c.queues))
	for k, v := range c.queues {
		queues[k] = v
	}
	endpoints := make(map[string]*endpointSource, len(c.endpoints))
	for k, v := range c.endpoints {
		endpoints[k] = v
	}
	c.mu.Unlock()
	// The sources take their own locks: call them without ours.
	for name, q := range queues {
		st := q.stats()
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
		}
		gauge(c.diskBytes, float64(st.DiskBytes))
		gauge(c.memBytes, float64(st.MemoryBytes))
		gauge(c.oldest, st.OldestAge.Seconds())
		gauge(c.records, float64(st.Records))
		gauge(c.inflight, float64(st.InFlight))
		ch <- prometheus.MustNewConstMetric(c.corrupt, prometheus.CounterValue, float64(st.CorruptRecords), name)
	}
	for name, e := range endpoints {
		for _, ep := range e.list() {
			up := 0.0
			if ep.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, name, ep.Address)
			ch <- prometheus.MustNewConstMetric(c.attempts, prometheus.CounterValue, float64(ep.Successes), name, ep.Address, "success")
			ch <- prometheus.MustNewConstMetric(c.attempts, prometheus.CounterValue, float64(ep.Failures), name, ep.Address, "failure")
		}
	}
}

// TrackQueue reports exporter's durable queue through stats, called at every scrape, until
// the returned function is called. A later TrackQueue for the same exporter (a replacement
// during a reload) takes over; the earlier one's untrack then does nothing.
func (m *Metrics) TrackQueue(exporter string, stats func() QueueStats) (untrack func()) {
	if m == nil {
		return func() {}
	}
	c := m.exporters
	src := &queueSource{stats: stats}
	c.mu.Lock()
	c.queues[exporter] = src
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.queues[exporter] == src {
			delete(c.queues, exporter)
		}
	}
}

// TrackEndpoints reports the endpoints of exporter's load balancer through list, called at
// every scrape, until the returned function is called (same replacement rule as TrackQueue).
func (m *Metrics) TrackEndpoints(exporter string, list func() []EndpointState) (untrack func()) {
	if m == nil {
		return func() {}
	}
	c := m.exporters
	src := &endpointSource{list: list}
	c.mu.Lock()
	c.endpoints[exporter] = src
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.endpoints[exporter] == src {
			delete(c.endpoints, exporter)
		}
	}
}

// Retry counts one export attempt of exporter that failed and will be tried again.
func (m *Metrics) Retry(exporter string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(exporter).Inc()
	m.totals.retries.Add(1)
}

// Kept sets the items exporter's durable queue kept on disk at its last shutdown, to be
// delivered after the next start. They are neither exported nor dropped.
func (m *Metrics) Kept(exporter string, items int) {
	if m == nil {
		return
	}
	m.kept.WithLabelValues(exporter).Set(float64(items))
	m.totals.setKept(exporter, items)
}

// registerExporterMetrics adds the exporter metrics: retries and kept items, updated on the
// export path, and the collector of queues and endpoints, read at scrape time.
func (m *Metrics) registerExporterMetrics() {
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otlp_export_retries_total", Help: "Export attempts that failed and were retried, by exporter.",
	}, []string{"exporter"})
	m.kept = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "otlp_queue_kept_items", Help: "Items a durable queue kept on disk at the exporter's last shutdown, delivered after the next start (neither exported nor dropped).",
	}, []string{"exporter"})
	m.exporters = newExporterCollector()
	m.Registry.MustRegister(m.retries, m.kept, m.exporters)
}
