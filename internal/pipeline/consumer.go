// Package pipeline defines what flows between receivers, processors and exporters, and how
// pipelines are assembled from them.
//
// Data travels as OTLP export requests in protobuf wire form (see Batch). Because every
// Export*ServiceRequest is a single repeated field, concatenating two encoded requests yields a
// valid request holding both: batching is a byte append, and a pipeline that needs no decoded
// view never pays for one. Stages that do need the data model decode on demand with pdata.
package pipeline

import (
	"context"
	"fmt"
)

// Signal is the telemetry kind a batch carries.
type Signal uint8

const (
	SignalTraces Signal = iota + 1
	SignalMetrics
	SignalLogs
)

// Signals lists every signal in a stable order.
var Signals = [...]Signal{SignalTraces, SignalMetrics, SignalLogs}

func (s Signal) String() string {
	switch s {
	case SignalTraces:
		return "traces"
	case SignalMetrics:
		return "metrics"
	case SignalLogs:
		return "logs"
	}
	return fmt.Sprintf("signal(%d)", uint8(s))
}

// ItemName is the unit counted in Batch.Items: spans, metric points or log records.
func (s Signal) ItemName() string {
	switch s {
	case SignalTraces:
		return "spans"
	case SignalMetrics:
		return "metric_points"
	case SignalLogs:
		return "log_records"
	}
	return "items"
}

// ParseSignal maps "traces", "metrics" or "logs" to a Signal.
func ParseSignal(s string) (Signal, error) {
	for _, sig := range Signals {
		if sig.String() == s {
			return sig, nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q (want traces, metrics or logs)", s)
}

// Batch is one OTLP export request in protobuf wire form: an ExportTraceServiceRequest,
// ExportMetricsServiceRequest or ExportLogsServiceRequest according to Signal.
//
// Body is read-only for every consumer and valid only until Consume returns: a consumer that
// keeps the data past that point (a queue, a batcher) copies it, unless Owner lets it take
// Body instead. This lets receivers reuse their buffers.
type Batch struct {
	Signal Signal
	Body   []byte
	// Items is the number of spans, metric data points or log records in Body.
	Items int
	// Owner, when non-nil, offers Body to one consumer that keeps it (see Owner). A stage that
	// passes the batch to several consumers clears it.
	Owner *Owner
}

// Consumer accepts batches. Errors are classified with the resilience package (permanent,
// retryable, throttled) so that receivers can answer senders with the right OTLP status.
type Consumer interface {
	Consume(ctx context.Context, b Batch) error
}

// ConsumerFunc adapts a function to Consumer.
type ConsumerFunc func(ctx context.Context, b Batch) error

// Consume calls f(ctx, b).
func (f ConsumerFunc) Consume(ctx context.Context, b Batch) error { return f(ctx, b) }

// Component is the lifecycle every receiver, processor and exporter follows: Start returns
// quickly and leaves background work running under its own cancelable context; Shutdown is
// idempotent, safe without Start, drains what was accepted and honours ctx's deadline.
type Component interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}
