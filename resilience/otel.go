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
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, desc string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithUnit("1"), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	calls := counter("resilience.calls", "{call}", "Calls run under a resilience policy, by outcome.")
	rejections := counter("resilience.rejections", "{call}", "Calls refused by a policy without running, by reason.")
	retries := counter("resilience.retries", "{retry}", "Retries made.")
	exhausted := counter("resilience.retries.exhausted", "{call}", "Calls that failed after their last allowed attempt.")
	timeouts := counter("resilience.timeouts", "{call}", "Attempts that ran past their timeout.")
	fallbacks := counter("resilience.fallbacks", "{call}", "Results served by a fallback.")
	transitions := counter("resilience.circuit_breaker.transitions", "{transition}", "Circuit breaker state changes, by the state entered.")
	state := gauge("resilience.circuit_breaker.state", "Circuit breaker state: 1 for the current state.")
	degraded := gauge("resilience.degraded", "1 while the policy runs in degraded mode.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	states := [...]State{StateClosed, StateHalfOpen, StateOpen}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, m := range source() {
			p := attribute.String("policy", m.Name)
			obs := func(inst metric.Int64Observable, v uint64, kv ...attribute.KeyValue) {
				switch inst := inst.(type) {
				case metric.Int64ObservableCounter:
					o.ObserveInt64(inst, int64(v), metric.WithAttributes(append(kv, p)...))
				case metric.Int64ObservableGauge:
					o.ObserveInt64(inst, int64(v), metric.WithAttributes(append(kv, p)...))
				}
			}
			outcome := func(s string) attribute.KeyValue { return attribute.String("outcome", s) }
			reason := func(s string) attribute.KeyValue { return attribute.String("reason", s) }
			obs(calls, m.Successes, outcome("success"))
			obs(calls, m.Failures, outcome("failure"))
			obs(calls, m.Rejected, outcome("rejected"))
			obs(calls, m.Canceled, outcome("canceled"))
			obs(rejections, m.RejectedCircuitOpen, reason(ReasonCircuitOpen))
			obs(rejections, m.RejectedBulkheadFull, reason(ReasonBulkheadFull))
			obs(rejections, m.RejectedRateLimited, reason(ReasonRateLimited))
			obs(rejections, m.RetryBudgetRejected, reason(ReasonRetryBudget))
			obs(retries, m.Retries)
			obs(exhausted, m.RetriesExhausted)
			obs(timeouts, m.Timeouts)
			obs(fallbacks, m.Fallbacks)
			obs(degraded, b2u(m.Degraded))
			if b := m.Breaker; b != nil {
				for _, s := range states {
					st := attribute.String("state", s.String())
					obs(state, b2u(b.State == s), st)
					obs(transitions, b.Transitions[s], st)
				}
			}
		}
		return nil
	}, calls, rejections, retries, exhausted, timeouts, fallbacks, transitions, state, degraded)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
