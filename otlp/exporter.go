package otlp

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/resilience"
)

// Signal is a kind of telemetry.
type Signal uint8

// Signals.
const (
	SignalTraces Signal = iota + 1
	SignalMetrics
	SignalLogs
)

func (s Signal) String() string { return s.internal().String() }

func (s Signal) internal() pipeline.Signal {
	switch s {
	case SignalTraces:
		return pipeline.SignalTraces
	case SignalMetrics:
		return pipeline.SignalMetrics
	case SignalLogs:
		return pipeline.SignalLogs
	}
	return 0
}

func signalOf(s pipeline.Signal) Signal {
	switch s {
	case pipeline.SignalTraces:
		return SignalTraces
	case pipeline.SignalMetrics:
		return SignalMetrics
	case pipeline.SignalLogs:
		return SignalLogs
	}
	return 0
}

// Request is one OTLP Export{Trace,Metrics,Logs}ServiceRequest in protobuf wire form.
type Request struct {
	Signal Signal
	// Body is valid only during Export: copy it to keep it.
	Body []byte
	// Items counts the spans, metric data points or log records in Body.
	Items int
}

// Traces decodes a traces request.
func (r Request) Traces() (ptrace.Traces, error) {
	req := ptraceotlp.NewExportRequest()
	err := req.UnmarshalProto(r.Body)
	return req.Traces(), err
}

// Metrics decodes a metrics request.
func (r Request) Metrics() (pmetric.Metrics, error) {
	req := pmetricotlp.NewExportRequest()
	err := req.UnmarshalProto(r.Body)
	return req.Metrics(), err
}

// Logs decodes a logs request.
func (r Request) Logs() (plog.Logs, error) {
	req := plogotlp.NewExportRequest()
	err := req.UnmarshalProto(r.Body)
	return req.Logs(), err
}

// Exporter sends telemetry to a backend of your choice (see WithExporter). It is called from
// the client's queue workers, behind the same retry, circuit breaker and disk buffer as the
// OTLP transports. A returned error is retried unless wrapped with Permanent; wrap it with
// Throttled to ask for a pause before the next attempt.
type Exporter interface {
	Export(ctx context.Context, r Request) error
}

// ExporterFunc adapts a function to Exporter.
type ExporterFunc func(ctx context.Context, r Request) error

// Export calls f.
func (f ExporterFunc) Export(ctx context.Context, r Request) error { return f(ctx, r) }

// Permanent marks an export error that retrying cannot fix: the data is dropped, counted.
func Permanent(err error) error { return resilience.Permanent(err) }

// Throttled marks a retryable error after which the next attempt waits at least d.
func Throttled(err error, d time.Duration) error { return resilience.Throttled(err, d) }

// exporterConsumer makes an Exporter the sender's consumer.
type exporterConsumer struct{ e Exporter }

func (c exporterConsumer) Consume(ctx context.Context, b pipeline.Batch) error {
	return c.e.Export(ctx, Request{Signal: signalOf(b.Signal), Body: b.Body, Items: b.Items})
}
