package resilience

import "time"

// Clock is the source of time for every policy, so that tests can run on a fake clock or in a
// testing/synctest bubble instead of sleeping.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that delivers on C once d has passed.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine once d has passed, unless stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is the part of *time.Timer the policies use.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// SystemClock is the real clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

func (SystemClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (SystemClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

func isSystemClock(c Clock) bool {
	_, ok := c.(SystemClock)
	return ok
}
