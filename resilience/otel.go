package resilience

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// RegisterOTelMetrics publishes the snapshots returned by source (Manager.Metrics, or a
// function returning the Metrics of some executors) through the OpenTelemetry metric API as
// asynchronous instruments, read at each collection: nothing is added to the call path.
// Unregister the returned registration to stop.
//
// Instruments, each with attribute "policy" (the name):
//
//	resilience.calls                        counter, attribute outcome: success|failure|rejected|canceled
//	resilience.rejections                   counter, attribute reason: circuit_open|bulkhead_full|rate_limited|retry_budget
//	resilience.retries                      counter
//	resilience.retries.exhausted            counter
//	resilience.timeouts                     counter
//	resilience.fallbacks                    counter
//	resilience.circuit_breaker.state        gauge, attribute state: 1 for the current state, 0 for the others
//	resilience.circuit_breaker.transitions  counter, attribute state: the state entered
//	resilience.degraded                     gauge, 1 while degraded
func RegisterOTelMetrics(meter metric.Meter, source func() []Metrics) (metric.Registration, error) {
	insts := Instruments()
	observables := make([]metric.Int64Observable, len(insts))
	registered := make([]metric.Observable, len(insts))
	var errs []error
	for i, in := range insts {
		var err error
		if in.Gauge {
			observables[i], err = meter.Int64ObservableGauge(in.Name, metric.WithUnit(in.Unit), metric.WithDescription(in.Description))
		} else {
			observables[i], err = meter.Int64ObservableCounter(in.Name, metric.WithUnit(in.Unit), metric.WithDescription(in.Description))
		}
		registered[i] = observables[i]
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, m := range source() {
			p := attribute.String("policy", m.Name)
			m.Observe(func(i int, label string, v uint64) {
				attrs := metric.WithAttributes(p)
				if key := insts[i].Label; key != "" {
					attrs = metric.WithAttributes(p, attribute.String(key, label))
				}
				o.ObserveInt64(observables[i], int64(v), attrs)
			})
		}
		return nil
	}, registered...)
}
