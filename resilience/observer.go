package resilience

import (
	"time"
)

// EventKind says what happened.
type EventKind uint8

const (
	// EventStateChange: a circuit breaker moved From one state To another.
	EventStateChange EventKind = iota + 1
	// EventRetry: a Retry is about to wait Delay before attempt Attempt+1 after Err.
	EventRetry
	// EventRejected: a call was refused (open breaker, full bulkhead, rate limit, retry budget).
	EventRejected
	// EventTimeout: a call ran past its Timeout.
	EventTimeout
	// EventFallback: a Fallback served its fallback after Err.
	EventFallback
	// EventDegradation: a Degrader entered (Degraded true) or left degraded mode.
	EventDegradation
)

func (k EventKind) String() string {
	switch k {
	case EventStateChange:
		return "state_change"
	case EventRetry:
		return "retry"
	case EventRejected:
		return "rejected"
	case EventTimeout:
		return "timeout"
	case EventFallback:
		return "fallback"
	case EventDegradation:
		return "degradation"
	}
	return "unknown"
}

// Event is one notable thing a policy did. Fields that do not apply to Kind are zero.
type Event struct {
	Kind EventKind
	// Name is the policy's name (WithName), or the manager's policy name.
	Name string
	Time time.Time
	// From and To are the breaker states of an EventStateChange.
	From, To State
	// Attempt is the attempt that just failed (1-based) for an EventRetry.
	Attempt int
	// Delay is the wait before the next attempt (EventRetry) or the suggested wait (EventRejected).
	Delay time.Duration
	// Reason says why: a rejection reason or the degradation trigger.
	Reason string
	// Degraded is the new mode of an EventDegradation.
	Degraded bool
	// Err is the error of the event: of the failed attempt (EventRetry), of the rejection
	// (EventRejected), or of the call that tripped a breaker open (EventStateChange to open).
	Err error
}

// Observer receives events. It is called synchronously, never under a policy's lock, so it
// may call back into the policy; it should be quick.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

func (f ObserverFunc) Observe(e Event) { f(e) }

// Rejection reasons reported in Event.Reason and Metrics.
const (
	ReasonCircuitOpen  = "circuit_open"
	ReasonBulkheadFull = "bulkhead_full"
	ReasonRateLimited  = "rate_limited"
	ReasonRetryBudget  = "retry_budget"
)

func emit(o Observer, e Event) {
	if o != nil {
		o.Observe(e)
	}
}
