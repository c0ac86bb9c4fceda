// Package selftel holds the server's and agent's own metrics, exposed on the admin /metrics
// endpoint. One Metrics per process instance (no package-level registry), so that two servers
// can run in one test process. Every method is safe on a nil *Metrics, which records nothing.
package selftel

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Reasons used with Dropped and Refused.
const (
	ReasonInvalid       = "invalid"       // rejected input (bad ids, malformed payload)
	ReasonMemoryLimit   = "memory_limit"  // refused by the memory limiter
	ReasonQueueFull     = "queue_full"    // a queue's drop policy discarded it
	ReasonExportFailed  = "export_failed" // permanent export error, or retries exhausted
	ReasonShutdown      = "shutdown"      // shutdown deadline passed before delivery
	ReasonMaxAgeExpired = "max_age"       // older than the configured max age
	ReasonCorrupt       = "corrupt"       // found damaged in a durable queue's files
)

var allReasons = []string{ReasonInvalid, ReasonMemoryLimit, ReasonQueueFull, ReasonExportFailed, ReasonShutdown, ReasonMaxAgeExpired, ReasonCorrupt}

// Metrics is the set of self-metrics. Create it with New.
type Metrics struct {
	// Registry holds every collector below plus the Go runtime and process collectors.
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	conns    *prometheus.GaugeVec
	received [4]*prometheus.CounterVec
	exported [4]*prometheus.CounterVec
	dropped  [4]*prometheus.CounterVec
	refused  [4]*prometheus.CounterVec
	queue    *prometheus.GaugeVec
	queueCap *prometheus.GaugeVec
	batches  *prometheus.CounterVec

	retries   *prometheus.CounterVec
	kept      *prometheus.GaugeVec
	exporters *exporterCollector

	totals *totals
}

// New builds and registers the metrics in a fresh registry.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), totals: newTotals()}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otlp_requests_total", Help: "OTLP export requests received, by transport, signal and result code.",
	}, []string{"transport", "signal", "code"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otlp_errors_total", Help: "OTLP requests that failed, by transport, signal and reason.",
	}, []string{"transport", "signal", "reason"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "otlp_latency_seconds", Help: "Time to handle one OTLP export request.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"transport", "signal"})
	m.conns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "otlp_active_connections", Help: "Open client connections, by transport.",
	}, []string{"transport"})
	m.queue = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "otlp_queue_size", Help: "Items waiting in a queue or batch, by component.",
	}, []string{"component"})
	m.queueCap = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "otlp_queue_capacity", Help: "Capacity of a queue, by component.",
	}, []string{"component"})
	m.batches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otlp_batches_sent_total", Help: "Batches emitted by the batch processor, by trigger.",
	}, []string{"pipeline", "trigger"})
	m.Registry.MustRegister(m.requests, m.errors, m.latency, m.conns, m.queue, m.queueCap, m.batches)
	m.registerExporterMetrics()
	for _, sig := range pipeline.Signals {
		item := sig.ItemName()
		m.received[sig] = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otlp_received_" + item + "_total", Help: "Items accepted from senders, by transport.",
		}, []string{"transport"})
		m.exported[sig] = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otlp_exported_" + item + "_total", Help: "Items delivered by an exporter.",
		}, []string{"exporter"})
		m.dropped[sig] = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otlp_dropped_" + item + "_total", Help: "Items dropped, by reason. Nothing is dropped without being counted here.",
		}, []string{"reason"})
		m.refused[sig] = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otlp_refused_" + item + "_total", Help: "Items refused with a retryable error (the sender keeps them), by reason.",
		}, []string{"reason"})
		m.Registry.MustRegister(m.received[sig], m.exported[sig], m.dropped[sig], m.refused[sig])
		// Zero-valued series so dashboards and alerts see every reason, and a server that has
		// received nothing yet reads 0 rather than no data.
		for _, r := range allReasons {
			m.dropped[sig].WithLabelValues(r)
		}
		for _, r := range []string{ReasonMemoryLimit, ReasonQueueFull} {
			m.refused[sig].WithLabelValues(r)
		}
		for tr, ok := range map[string]string{"grpc": "OK", "http": "200"} {
			m.latency.WithLabelValues(tr, sig.String())
			m.received[sig].WithLabelValues(tr)
			m.requests.WithLabelValues(tr, sig.String(), ok)
			m.errors.WithLabelValues(tr, sig.String(), "malformed")
		}
	}
	for _, tr := range []string{"grpc", "http"} {
		m.conns.WithLabelValues(tr)
	}
	return m
}

// ExporterSeries creates exporter's series at 0, so that dashboards show an idle exporter's
// 0 rather than no data.
func (m *Metrics) ExporterSeries(exporter string) {
	if m == nil {
		return
	}
	for _, sig := range pipeline.Signals {
		m.exported[sig].WithLabelValues(exporter)
	}
}

// Request records one handled request: code is the gRPC code name or HTTP status text.
func (m *Metrics) Request(transport string, sig pipeline.Signal, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(transport, sig.String(), code).Inc()
	m.latency.WithLabelValues(transport, sig.String()).Observe(d.Seconds())
}

// Error records a failed request with its reason.
func (m *Metrics) Error(transport string, sig pipeline.Signal, reason string) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(transport, sig.String(), reason).Inc()
}

// ConnDelta adds delta (+1 open, -1 closed) to the active connections of transport.
func (m *Metrics) ConnDelta(transport string, delta int) {
	if m == nil {
		return
	}
	m.conns.WithLabelValues(transport).Add(float64(delta))
}

// Received counts n items accepted on transport.
func (m *Metrics) Received(sig pipeline.Signal, transport string, n int) {
	if m == nil || n == 0 || !valid(sig) {
		return
	}
	m.received[sig].WithLabelValues(transport).Add(float64(n))
}

// Exported counts n items delivered by exporter.
func (m *Metrics) Exported(sig pipeline.Signal, exporter string, n int) {
	if m == nil || n == 0 || !valid(sig) {
		return
	}
	m.exported[sig].WithLabelValues(exporter).Add(float64(n))
	m.totals.exported[sig].Add(int64(n))
}

// Dropped counts n items lost for reason.
func (m *Metrics) Dropped(sig pipeline.Signal, reason string, n int) {
	if m == nil || n == 0 || !valid(sig) {
		return
	}
	m.dropped[sig].WithLabelValues(reason).Add(float64(n))
	m.totals.drop(sig, reason, n)
}

// Refused counts n items turned away with a retryable error for reason.
func (m *Metrics) Refused(sig pipeline.Signal, reason string, n int) {
	if m == nil || n == 0 || !valid(sig) {
		return
	}
	m.refused[sig].WithLabelValues(reason).Add(float64(n))
}

// QueueSize sets the number of items waiting in component, and its capacity when capacity > 0.
func (m *Metrics) QueueSize(component string, size, capacity int) {
	if m == nil {
		return
	}
	m.queue.WithLabelValues(component).Set(float64(size))
	if capacity > 0 {
		m.queueCap.WithLabelValues(component).Set(float64(capacity))
	}
}

// BatchSent counts a batch emitted by pipeline's batcher for trigger ("size", "timeout", "shutdown").
func (m *Metrics) BatchSent(pipelineName, trigger string) {
	if m == nil {
		return
	}
	m.batches.WithLabelValues(pipelineName, trigger).Inc()
}

func valid(sig pipeline.Signal) bool {
	return sig >= pipeline.SignalTraces && sig <= pipeline.SignalLogs
}
