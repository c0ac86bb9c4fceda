package resilience

import (
	"errors"
	"time"
)

// permanentError marks an error that retrying cannot fix (bad data, a 400 from upstream).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not retryable. A nil err stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked Permanent or classified
// as not retryable (an *Error with Retryable false).
func IsPermanent(err error) bool {
	for err != nil {
		switch e := err.(type) {
		case *permanentError:
			return true
		case *Error:
			if !e.Retryable {
				return true
			}
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if IsPermanent(inner) {
					return true
				}
			}
			return false
		}
		err = errors.Unwrap(err)
	}
	return false
}

// throttledError is a retryable error that carries the minimum delay the other side asked for
// (gRPC RetryInfo, HTTP Retry-After) or that we ask of our senders.
type throttledError struct {
	err   error
	delay time.Duration
}

func (e *throttledError) Error() string { return "throttled: " + e.err.Error() }
func (e *throttledError) Unwrap() error { return e.err }

// Throttled marks err as retryable no sooner than after delay. A nil err stays nil.
func Throttled(err error, delay time.Duration) error {
	if err == nil {
		return nil
	}
	return &throttledError{err: err, delay: delay}
}

// RetryAfter returns the delay carried by a Throttled error.
func RetryAfter(err error) (time.Duration, bool) {
	var t *throttledError
	if errors.As(err, &t) {
		return t.delay, true
	}
	return 0, false
}
