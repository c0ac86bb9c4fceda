package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Policy is one layer of an Executor: *Retry, *Breaker, *Timeout, *Bulkhead, *RateLimiter or
// *Fallback[T]. The set is closed so that the executor can run a chain as plain method calls,
// without building closures or allocating per call.
type Policy interface {
	policy()
}

func (*Retry) policy()       {}
func (*Breaker) policy()     {}
func (*Timeout) policy()     {}
func (*Bulkhead) policy()    {}
func (*RateLimiter) policy() {}

// Executor runs functions under an ordered list of policies, the first outermost:
// NewExecutor[T]("export", retry, breaker, timeout) retries calls that go through the breaker,
// each attempt bounded by the timeout. It is safe for concurrent use; the policies keep their
// state (an open breaker, a spent retry budget) across every caller.
type Executor[T any] struct {
	core     *core
	fallback *Fallback[T]
}

// NewExecutor builds an executor named name (for metrics) from policies. A *Fallback[T] must
// come first; each policy instance may appear once.
func NewExecutor[T any](name string, policies ...Policy) (*Executor[T], error) {
	e := &Executor[T]{}
	rest := policies
	if len(policies) > 0 {
		if fb, ok := policies[0].(*Fallback[T]); ok {
			e.fallback = fb
			rest = policies[1:]
		}
	}
	c, err := newCore(name, rest)
	if err != nil {
		return nil, err
	}
	e.core = c
	return e, nil
}

// Execute runs fn under the executor's policies.
func (e *Executor[T]) Execute(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	return execute(ctx, e.core, e.fallback, fn)
}

// Run runs fn, which has no result, under the executor's policies.
func (e *Executor[T]) Run(ctx context.Context, fn func(context.Context) error) error {
	if e.fallback == nil {
		return e.core.call(ctx, fn)
	}
	_, err := execute(ctx, e.core, e.fallback, func(ctx context.Context) (T, error) {
		var zero T
		return zero, fn(ctx)
	})
	return err
}

// Metrics returns a snapshot of the executor's counters.
func (e *Executor[T]) Metrics() Metrics {
	m := e.core.metrics()
	if e.fallback != nil {
		m.Fallbacks = e.fallback.Served()
		if e.fallback.degrader != nil {
			m.Degraded = e.fallback.degrader.Degraded()
		}
	}
	return m
}

// execute is the generic entry point: fallback and degradation around the untyped chain.
// c may be nil (a bare Fallback).
func execute[T any](ctx context.Context, c *core, fb *Fallback[T], fn func(context.Context) (T, error)) (T, error) {
	var out T
	var err error
	var start time.Time
	var d *Degrader
	if fb != nil && fb.degrader != nil {
		d = fb.degrader
		if d.Degraded() {
			return fb.serve(ctx, ErrDegraded)
		}
		start = d.clock.Now()
	}
	if c == nil {
		out, err = fn(ctx)
	} else {
		err = c.call(ctx, func(ctx context.Context) error {
			var ferr error
			out, ferr = fn(ctx)
			return ferr
		})
	}
	if d != nil {
		d.Record(err, d.clock.Now().Sub(start))
	}
	if fb != nil {
		if err == nil {
			fb.remember(out)
		} else if fb.handles(err) {
			return fb.serve(ctx, err)
		}
	}
	return out, err
}

type stepKind uint8

const (
	stepRetry stepKind = iota + 1
	stepBreaker
	stepTimeout
	stepBulkhead
	stepRateLimit
)

type step struct {
	kind     stepKind
	retry    *Retry
	breaker  *Breaker
	timeout  *Timeout
	bulkhead *Bulkhead
	limiter  *RateLimiter
}

// core is the untyped part of an executor: the policy chain and the outcome counters.
type core struct {
	name  string
	steps []step
	// The first policy of each kind, for Metrics.
	retry    *Retry
	breaker  *Breaker
	timeout  *Timeout
	bulkhead *Bulkhead
	limiter  *RateLimiter

	successes, failures, canceled atomic.Uint64
	rejected                      [3]atomic.Uint64 // by rejectIndex
}

func newCore(name string, policies []Policy) (*core, error) {
	c := &core{name: name}
	seen := make(map[Policy]bool, len(policies))
	for i, p := range policies {
		if p == nil {
			return nil, fmt.Errorf("resilience: executor %q: policy %d is nil", name, i)
		}
		if seen[p] {
			return nil, fmt.Errorf("resilience: executor %q: policy %d appears twice", name, i)
		}
		seen[p] = true
		var s step
		switch p := p.(type) {
		case *Retry:
			s = step{kind: stepRetry, retry: p}
			c.retry = firstSet(c.retry, p)
		case *Breaker:
			s = step{kind: stepBreaker, breaker: p}
			c.breaker = firstSet(c.breaker, p)
		case *Timeout:
			s = step{kind: stepTimeout, timeout: p}
			c.timeout = firstSet(c.timeout, p)
		case *Bulkhead:
			s = step{kind: stepBulkhead, bulkhead: p}
			c.bulkhead = firstSet(c.bulkhead, p)
		case *RateLimiter:
			s = step{kind: stepRateLimit, limiter: p}
			c.limiter = firstSet(c.limiter, p)
		default:
			return nil, fmt.Errorf("resilience: executor %q: policy %d (%T) must be the first policy, of the executor's result type", name, i, p)
		}
		c.steps = append(c.steps, s)
	}
	return c, nil
}

// firstSet returns a unless it is the zero value, else b.
func firstSet[P comparable](a, b P) P {
	var zero P
	if a != zero {
		return a
	}
	return b
}

// call runs fn through the chain and counts the outcome.
func (c *core) call(ctx context.Context, fn func(context.Context) error) error {
	err := c.run(ctx, 0, fn)
	c.count(err)
	return err
}

// run runs fn through steps[i:]. Each step calls run for the rest of the chain directly; the
// closures handed to Retry and Timeout do not escape, so they live on the stack.
func (c *core) run(ctx context.Context, i int, fn func(context.Context) error) error {
	if i == len(c.steps) {
		return fn(ctx)
	}
	s := &c.steps[i]
	switch s.kind {
	case stepRetry:
		return s.retry.do(ctx, func(ctx context.Context) error { return c.run(ctx, i+1, fn) })
	case stepBreaker:
		p, err := s.breaker.Allow()
		if err != nil {
			return err
		}
		finished := false
		defer doneOnPanic(&p, &finished)
		if dl, ok := p.Deadline(); ok {
			tctx, cancel := withDeadline(ctx, s.breaker.clock, dl, errTrialTimeout)
			err = c.run(tctx, i+1, fn)
			cancel()
		} else {
			err = c.run(ctx, i+1, fn)
		}
		finished = true
		p.Done(err)
		return err
	case stepTimeout:
		return s.timeout.do(ctx, func(ctx context.Context) error { return c.run(ctx, i+1, fn) })
	case stepBulkhead:
		if err := s.bulkhead.Acquire(ctx); err != nil {
			return err
		}
		defer s.bulkhead.Release()
		return c.run(ctx, i+1, fn)
	case stepRateLimit:
		if err := s.limiter.Wait(ctx); err != nil {
			return err
		}
		return c.run(ctx, i+1, fn)
	}
	panic("resilience: unknown step")
}

func rejectIndex(reason string) int {
	switch reason {
	case ReasonCircuitOpen:
		return 0
	case ReasonBulkheadFull:
		return 1
	}
	return 2
}

func (c *core) count(err error) {
	switch {
	case err == nil:
		c.successes.Add(1)
	case errors.Is(err, context.Canceled):
		c.canceled.Add(1)
	default:
		if reason, ok := IsRejected(err); ok {
			c.rejected[rejectIndex(reason)].Add(1)
			return
		}
		c.failures.Add(1)
	}
}

// Metrics is a snapshot of an executor or of a manager's named policy: the seed's "reliability
// metrics".
type Metrics struct {
	Name string
	// Calls = Successes + Failures + Rejected + Canceled.
	Calls, Successes, Failures, Canceled uint64
	// Rejected counts calls refused without running, by reason.
	Rejected, RejectedCircuitOpen, RejectedBulkheadFull, RejectedRateLimited uint64
	Retries, RetriesExhausted, RetryBudgetRejected                           uint64
	Timeouts                                                                 uint64
	// Fallbacks counts results served by a fallback (the call itself was counted as failed
	// or rejected).
	Fallbacks uint64
	Degraded  bool
	// Breaker is nil when the chain has no circuit breaker.
	Breaker *BreakerMetrics
	// SuccessRate is Successes / (Calls - Canceled), or 1 with no calls.
	SuccessRate float64
}

func (c *core) metrics() Metrics {
	m := Metrics{
		Name:                 c.name,
		Successes:            c.successes.Load(),
		Failures:             c.failures.Load(),
		Canceled:             c.canceled.Load(),
		RejectedCircuitOpen:  c.rejected[0].Load(),
		RejectedBulkheadFull: c.rejected[1].Load(),
		RejectedRateLimited:  c.rejected[2].Load(),
	}
	m.Rejected = m.RejectedCircuitOpen + m.RejectedBulkheadFull + m.RejectedRateLimited
	m.Calls = m.Successes + m.Failures + m.Rejected + m.Canceled
	if r := c.retry; r != nil {
		rm := r.Metrics()
		m.Retries, m.RetriesExhausted, m.RetryBudgetRejected = rm.Retries, rm.Exhausted, rm.BudgetRejected
	}
	if t := c.timeout; t != nil {
		m.Timeouts = t.Timeouts()
	}
	if b := c.breaker; b != nil {
		bm := b.Metrics()
		m.Breaker = &bm
	}
	m.SuccessRate = 1
	if n := m.Calls - m.Canceled; n > 0 {
		m.SuccessRate = float64(m.Successes) / float64(n)
	}
	return m
}
