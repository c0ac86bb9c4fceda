// Package resiliencetest provides a fake clock for deterministic tests of code that uses the
// resilience package.
package resiliencetest

import (
	"sort"
	"sync"
	"time"

	"github.com/otlp-dev/otlp/resilience"
)

// FakeClock is a resilience.Clock that moves only when told to. Timers fire during Advance;
// AfterFunc functions run synchronously inside Advance, in deadline order, without the
// clock's lock held.
//
// To test code that waits on a timer, run it in a goroutine inside a testing/synctest bubble,
// call synctest.Wait until it is parked on the timer (or poll Timers), then Advance.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time    // guarded by mu
	timers []*fakeTimer // guarded by mu
	seq    uint64       // guarded by mu; orders timers of equal deadline
}

var _ resilience.Clock = (*FakeClock)(nil)

// NewFakeClock returns a clock that reads start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Timers returns the number of timers waiting to fire.
func (c *FakeClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NewTimer returns a timer that fires when the clock reaches now+d.
func (c *FakeClock) NewTimer(d time.Duration) resilience.Timer {
	return c.add(d, nil)
}

// AfterFunc calls f during the Advance that reaches now+d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) resilience.Timer {
	return c.add(d, f)
}

func (c *FakeClock) add(d time.Duration, f func()) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now.Add(d), f: f, ch: make(chan time.Time, 1), seq: c.seq}
	c.seq++
	if d <= 0 {
		c.fireLocked(t)
		if f != nil {
			c.mu.Unlock()
			f()
			c.mu.Lock()
		}
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (c *FakeClock) fireLocked(t *fakeTimer) {
	if t.f == nil {
		select {
		case t.ch <- c.now:
		default:
		}
	}
}

// Advance moves the clock forward by d, firing every timer that falls due on the way, at its
// own deadline.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.Slice(c.timers, func(i, j int) bool {
			a, b := c.timers[i], c.timers[j]
			if !a.at.Equal(b.at) {
				return a.at.Before(b.at)
			}
			return a.seq < b.seq
		})
		if len(c.timers) == 0 || c.timers[0].at.After(end) {
			break
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		c.now = t.at
		c.fireLocked(t)
		if t.f != nil {
			c.mu.Unlock()
			t.f()
			c.mu.Lock()
		}
	}
	c.now = end
	c.mu.Unlock()
}

func (c *FakeClock) stop(t *fakeTimer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

type fakeTimer struct {
	clock *FakeClock
	at    time.Time
	f     func()
	ch    chan time.Time
	seq   uint64
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool { return t.clock.stop(t) }
