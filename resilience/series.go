package resilience

// Instrument describes one metric that Metrics snapshots publish. RegisterOTelMetrics makes
// OpenTelemetry instruments of them; the server's /metrics makes Prometheus series of the same
// list, so that the two cannot drift apart.
type Instrument struct {
	Name        string // OpenTelemetry name, e.g. "resilience.calls"
	Unit        string
	Description string
	Gauge       bool   // a gauge; otherwise a monotonic counter
	Label       string // the attribute besides "policy" ("outcome", "reason", "state"), or ""
}

// Indexes into Instruments.
const (
	InstCalls = iota
	InstRejections
	InstRetries
	InstRetriesExhausted
	InstTimeouts
	InstFallbacks
	InstBreakerTransitions
	InstBreakerState
	InstDegraded
)

// Instruments lists what Observe reports, indexed by the Inst constants.
func Instruments() []Instrument {
	return []Instrument{
		InstCalls:              {"resilience.calls", "{call}", "Calls run under a resilience policy, by outcome.", false, "outcome"},
		InstRejections:         {"resilience.rejections", "{call}", "Calls refused by a policy without running, by reason.", false, "reason"},
		InstRetries:            {"resilience.retries", "{retry}", "Retries made.", false, ""},
		InstRetriesExhausted:   {"resilience.retries.exhausted", "{call}", "Calls that failed after their last allowed attempt.", false, ""},
		InstTimeouts:           {"resilience.timeouts", "{call}", "Attempts that ran past their timeout.", false, ""},
		InstFallbacks:          {"resilience.fallbacks", "{call}", "Results served by a fallback.", false, ""},
		InstBreakerTransitions: {"resilience.circuit_breaker.transitions", "{transition}", "Circuit breaker state changes, by the state entered.", false, "state"},
		InstBreakerState:       {"resilience.circuit_breaker.state", "1", "Circuit breaker state: 1 for the current state.", true, "state"},
		InstDegraded:           {"resilience.degraded", "1", "1 while the policy runs in degraded mode.", true, ""},
	}
}

// Observe calls f for every series of the snapshot: the instrument (an Inst constant), the
// value of its Label ("" when it has none) and the value. The policy is m.Name.
func (m Metrics) Observe(f func(inst int, label string, v uint64)) {
	f(InstCalls, "success", m.Successes)
	f(InstCalls, "failure", m.Failures)
	f(InstCalls, "rejected", m.Rejected)
	f(InstCalls, "canceled", m.Canceled)
	f(InstRejections, ReasonCircuitOpen, m.RejectedCircuitOpen)
	f(InstRejections, ReasonBulkheadFull, m.RejectedBulkheadFull)
	f(InstRejections, ReasonRateLimited, m.RejectedRateLimited)
	f(InstRejections, ReasonRetryBudget, m.RetryBudgetRejected)
	f(InstRetries, "", m.Retries)
	f(InstRetriesExhausted, "", m.RetriesExhausted)
	f(InstTimeouts, "", m.Timeouts)
	f(InstFallbacks, "", m.Fallbacks)
	f(InstDegraded, "", b2u(m.Degraded))
	if b := m.Breaker; b != nil {
		for _, s := range [...]State{StateClosed, StateHalfOpen, StateOpen} {
			f(InstBreakerState, s.String(), b2u(b.State == s))
			f(InstBreakerTransitions, s.String(), b.Transitions[s])
		}
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
