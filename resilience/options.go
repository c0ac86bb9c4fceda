package resilience

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
)

// Option configures what code injects into a policy: its name, clock, observer and error
// classification. Options that do not apply to a policy are ignored by it.
type Option func(*options)

type options struct {
	name      string
	clock     Clock
	observer  Observer
	logger    *slog.Logger
	isFailure func(error) bool
	retryIf   func(error) bool
	degrader  *Degrader
	meter     metric.Meter
}

func buildOptions(opts []Option) options {
	o := options{clock: SystemClock{}}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.clock == nil {
		o.clock = SystemClock{}
	}
	return o
}

// WithName names the policy in events and metrics.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithClock sets the clock (default: the system clock).
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithObserver receives the policy's events (state changes, retries, rejections, ...).
// Observers are called without any policy lock held.
func WithObserver(obs Observer) Option { return func(o *options) { o.observer = obs } }

// WithLogger sets the logger used by the manager and the health checker.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithFailurePredicate decides which errors count as failures for a circuit breaker or a
// degrader. The default, IsFailure, ignores caller cancellation and permanent errors (the
// dependency answered; the request was bad).
func WithFailurePredicate(f func(error) bool) Option {
	return func(o *options) { o.isFailure = f }
}

// WithRetryIf decides which errors a Retry retries. The default is IsRetryable.
func WithRetryIf(f func(error) bool) Option { return func(o *options) { o.retryIf = f } }

// WithDegrader makes a Fallback serve its fallback directly while d reports degradation, and
// feeds d with the outcome and latency of every call of the executor that holds the fallback.
func WithDegrader(d *Degrader) Option { return func(o *options) { o.degrader = d } }

// WithMeter makes a Manager publish its metrics through the OpenTelemetry metric API.
func WithMeter(m metric.Meter) Option { return func(o *options) { o.meter = m } }
