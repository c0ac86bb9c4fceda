package resilience

import "errors"

// RejectedError is returned when a policy refuses to run a call at all. Rejections are not
// failures of the call: nothing was sent. They come wrapped as Throttled when the policy knows
// how long to wait, so a Retry outside the policy waits that long.
type RejectedError struct {
	// Reason is one of ReasonCircuitOpen, ReasonBulkheadFull, ReasonRateLimited.
	Reason string
	// Name is the rejecting policy's name, if it has one.
	Name string
}

func (e *RejectedError) Error() string {
	msg := "resilience: rejected"
	switch e.Reason {
	case ReasonCircuitOpen:
		msg = "resilience: circuit breaker is open"
	case ReasonBulkheadFull:
		msg = "resilience: bulkhead is full"
	case ReasonRateLimited:
		msg = "resilience: rate limit exceeded"
	}
	if e.Name != "" {
		msg += " (" + e.Name + ")"
	}
	return msg
}

// Is matches any RejectedError with the same Reason, so errors.Is(err, ErrOpen) works for
// every breaker.
func (e *RejectedError) Is(target error) bool {
	t, ok := target.(*RejectedError)
	return ok && t.Reason == e.Reason && (t.Name == "" || t.Name == e.Name)
}

// Sentinels for errors.Is.
var (
	ErrOpen         error = &RejectedError{Reason: ReasonCircuitOpen}
	ErrBulkheadFull error = &RejectedError{Reason: ReasonBulkheadFull}
	ErrRateLimited  error = &RejectedError{Reason: ReasonRateLimited}
	// ErrRetryBudgetExhausted wraps the last error when the retry budget refused a retry.
	ErrRetryBudgetExhausted = errors.New("resilience: retry budget exhausted")
	// ErrRetriesExhausted wraps the last error when max_attempts or max_elapsed ran out.
	ErrRetriesExhausted = errors.New("resilience: retries exhausted")
)

// IsRejected reports whether err is a rejection by a policy, and why.
func IsRejected(err error) (reason string, ok bool) {
	var r *RejectedError
	if errors.As(err, &r) {
		return r.Reason, true
	}
	return "", false
}
