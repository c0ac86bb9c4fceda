package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// timeoutError is ErrTimeout's type: it also matches context.DeadlineExceeded.
type timeoutError struct{}

func (timeoutError) Error() string { return "resilience: timeout exceeded" }

func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// ErrTimeout is returned by a Timeout whose call ran past its limit. errors.Is(err,
// context.DeadlineExceeded) is also true for it.
var ErrTimeout error = timeoutError{}

// Timeout bounds the duration of each call through the context it passes down.
//
// The call runs on the caller's goroutine: nothing is left running behind the caller. The
// price is that a function that ignores its context holds the caller until it returns; its
// result is then discarded and ErrTimeout returned, so callers still see the timeout.
type Timeout struct {
	d        time.Duration
	name     string
	clock    Clock
	observer Observer
	timeouts atomic.Uint64
}

// TimeoutConfig holds the timeouts of a manager policy. Call bounds each attempt of an
// operation run by the manager; Connect, Read and Write are for transports (exporters read
// them from Manager.Timeouts).
type TimeoutConfig struct {
	Call    time.Duration `toml:"call"`
	Connect time.Duration `toml:"connect"`
	Read    time.Duration `toml:"read"`
	Write   time.Duration `toml:"write"`
}

// NewDefaultTimeoutConfig: 10s per call, 5s to connect, 30s to read and write.
func NewDefaultTimeoutConfig() TimeoutConfig {
	return TimeoutConfig{Call: 10 * time.Second, Connect: 5 * time.Second,
		Read: 30 * time.Second, Write: 30 * time.Second}
}

// Validate reports the first invalid key.
func (c TimeoutConfig) Validate() error {
	for _, kv := range []struct {
		key string
		d   time.Duration
	}{{"call", c.Call}, {"connect", c.Connect}, {"read", c.Read}, {"write", c.Write}} {
		if kv.d < 0 {
			return fmt.Errorf("%s: must be >= 0, got %v", kv.key, kv.d)
		}
	}
	return nil
}

// NewTimeout returns a Timeout of d (d <= 0: no limit). Options: WithName, WithClock,
// WithObserver.
func NewTimeout(d time.Duration, opts ...Option) *Timeout {
	o := buildOptions(opts)
	return &Timeout{d: d, name: o.name, clock: o.clock, observer: o.observer}
}

// Execute runs fn with a context that ends after the timeout.
func (t *Timeout) Execute(ctx context.Context, fn func(context.Context) error) error {
	return t.do(ctx, fn)
}

func (t *Timeout) do(ctx context.Context, fn func(context.Context) error) error {
	if t.d <= 0 {
		return fn(ctx)
	}
	if dl, ok := ctx.Deadline(); ok && !dl.After(t.clock.Now().Add(t.d)) {
		// The caller's deadline comes first: no context (and no allocation) needed.
		return fn(ctx)
	}
	tctx, cancel := withTimeout(ctx, t.clock, t.d, ErrTimeout)
	err := fn(tctx)
	cancel()
	if timedOut(tctx, ErrTimeout) {
		t.timeouts.Add(1)
		emit(t.observer, Event{Kind: EventTimeout, Name: t.name, Time: t.clock.Now(), Err: err})
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			return ErrTimeout
		}
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// Timeouts returns how many calls ran past the limit.
func (t *Timeout) Timeouts() uint64 { return t.timeouts.Load() }

// withTimeout derives a context that ends after d on clock c, with context.DeadlineExceeded;
// timedOut(ctx, cause) tells afterwards whether it was this deadline that ended it. On the
// system clock it is context.WithTimeoutCause; on another clock a timer of that clock ends it.
func withTimeout(ctx context.Context, c Clock, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	if isSystemClock(c) {
		return context.WithTimeoutCause(ctx, d, cause)
	}
	return newClockCtx(ctx, c, d)
}

func withDeadline(ctx context.Context, c Clock, dl time.Time, cause error) (context.Context, context.CancelFunc) {
	return withTimeout(ctx, c, dl.Sub(c.Now()), cause)
}

// timedOut reports whether ctx, made by withTimeout with cause, ended by its own deadline.
func timedOut(ctx context.Context, cause error) bool {
	if cc, ok := ctx.(*clockCtx); ok {
		return cc.expired()
	}
	return context.Cause(ctx) == cause
}

// clockCtx is a context whose deadline runs on a Clock other than the system clock, so that
// tests on a fake clock see the same errors (context.DeadlineExceeded) as production.
type clockCtx struct {
	parent     context.Context
	deadline   time.Time
	done       chan struct{}
	timer      Timer
	stopParent func() bool

	mu      sync.Mutex
	err     error // guarded by mu
	byTimer bool  // guarded by mu
}

func newClockCtx(parent context.Context, c Clock, d time.Duration) (*clockCtx, context.CancelFunc) {
	cc := &clockCtx{parent: parent, deadline: c.Now().Add(d), done: make(chan struct{})}
	if err := parent.Err(); err != nil {
		cc.end(err, false)
		return cc, func() {}
	}
	stop := context.AfterFunc(parent, func() { cc.end(parent.Err(), false) })
	t := c.AfterFunc(d, func() { cc.end(context.DeadlineExceeded, true) })
	cc.mu.Lock()
	cc.stopParent, cc.timer = stop, t
	ended := cc.err != nil
	cc.mu.Unlock()
	if ended { // ended while registering: end could not stop these yet
		t.Stop()
		stop()
	}
	return cc, func() { cc.end(context.Canceled, false) }
}

func (c *clockCtx) end(err error, byTimer bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err, c.byTimer = err, byTimer
	close(c.done)
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stopParent != nil {
		c.stopParent()
	}
}

func (c *clockCtx) expired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byTimer
}

func (c *clockCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *clockCtx) Done() <-chan struct{}       { return c.done }
func (c *clockCtx) Value(key any) any           { return c.parent.Value(key) }

func (c *clockCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
