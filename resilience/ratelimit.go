package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// RateLimitConfig is a token bucket: Rate calls per second on average, Burst at once.
type RateLimitConfig struct {
	// Rate is the sustained calls per second (0: the limiter is off).
	Rate float64 `toml:"rate"`
	// Burst is how many calls may go at once after a quiet period (default 1).
	Burst int `toml:"burst"`
	// MaxWait is how long a call may wait for a token before it is rejected (0: reject at once).
	MaxWait time.Duration `toml:"max_wait"`
}

// Validate reports the first invalid key.
func (c RateLimitConfig) Validate() error {
	var errs []error
	if c.Rate < 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate) {
		errs = append(errs, fmt.Errorf("rate: must be a finite number >= 0, got %v", c.Rate))
	}
	if c.Burst < 0 {
		errs = append(errs, fmt.Errorf("burst: must be >= 0, got %d", c.Burst))
	}
	if c.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("max_wait: must be >= 0, got %v", c.MaxWait))
	}
	return errors.Join(errs...)
}

// RateLimiter is a lock-free token bucket (the generic cell rate algorithm: one atomic
// "theoretical arrival time" instead of a token count and a refill timestamp).
type RateLimiter struct {
	name     string
	interval int64 // ns per token
	burst    int64 // ns of credit: Burst * interval
	maxWait  time.Duration
	clock    Clock
	origin   time.Time
	observer Observer
	tat      atomic.Int64 // ns since origin at which the bucket is full again
	rejected atomic.Uint64
}

// NewRateLimiter builds a RateLimiter; options: WithName, WithClock, WithObserver.
func NewRateLimiter(cfg RateLimitConfig, opts ...Option) (*RateLimiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rate_limit: %w", err)
	}
	if cfg.Rate == 0 {
		return nil, errors.New("rate_limit: rate: must be > 0")
	}
	o := buildOptions(opts)
	interval := int64(float64(time.Second) / cfg.Rate)
	interval = max(interval, 1)
	return &RateLimiter{
		name: o.name, interval: interval, burst: int64(max(cfg.Burst, 1)) * interval,
		maxWait: cfg.MaxWait, clock: o.clock, origin: o.clock.Now(), observer: o.observer,
	}, nil
}

// reserve takes a token if one is free within maxWait and returns how long to wait for it;
// otherwise it takes nothing and returns false and the wait a caller would need.
func (l *RateLimiter) reserve(now time.Time, maxWait time.Duration) (time.Duration, bool) {
	t := int64(now.Sub(l.origin))
	for {
		tat := l.tat.Load()
		start := max(tat, t)
		next := start + l.interval
		// The call may go once next-burst <= t, i.e. after wait = next - burst - t.
		wait := next - l.burst - t
		if wait > int64(maxWait) {
			return time.Duration(wait), false
		}
		if l.tat.CompareAndSwap(tat, next) {
			return time.Duration(max(wait, 0)), true
		}
	}
}

// Allow takes a token if one is free now.
func (l *RateLimiter) Allow() bool {
	_, ok := l.reserve(l.clock.Now(), 0)
	if !ok {
		l.rejected.Add(1)
	}
	return ok
}

// Wait takes a token, waiting up to MaxWait for one. It returns ErrRateLimited (as Throttled
// with the wait a token would need) or the context's error.
func (l *RateLimiter) Wait(ctx context.Context) error {
	now := l.clock.Now()
	wait, ok := l.reserve(now, l.maxWait)
	if !ok {
		l.rejected.Add(1)
		err := Throttled(&RejectedError{Reason: ReasonRateLimited, Name: l.name}, wait)
		emit(l.observer, Event{Kind: EventRejected, Name: l.name, Time: now, Delay: wait,
			Reason: ReasonRateLimited, Err: err})
		return err
	}
	if wait <= 0 {
		return nil
	}
	t := l.clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		// The reserved token is not given back: the next callers wait a little more, which
		// errs on the safe side.
		return context.Cause(ctx)
	}
}

// Rejected returns how many calls found no token.
func (l *RateLimiter) Rejected() uint64 { return l.rejected.Load() }

// Execute runs fn once a token is taken.
func (l *RateLimiter) Execute(ctx context.Context, fn func(context.Context) error) error {
	if err := l.Wait(ctx); err != nil {
		return err
	}
	return fn(ctx)
}
