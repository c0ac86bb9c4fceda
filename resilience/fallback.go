package resilience

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Strategy is how a Fallback degrades.
type Strategy uint8

const (
	// StrategyCustom: a function of the error decides.
	StrategyCustom Strategy = iota
	// StrategyCache serves the last successful result.
	StrategyCache
	// StrategyBackup calls a backup (another endpoint, another source).
	StrategyBackup
	// StrategyReduce calls a cheaper, lower-quality variant (sampled, summarised, partial).
	StrategyReduce
	// StrategySkip skips a non-critical step: the zero value and no error.
	StrategySkip
)

func (s Strategy) String() string {
	switch s {
	case StrategyCache:
		return "cache"
	case StrategyBackup:
		return "backup"
	case StrategyReduce:
		return "reduce"
	case StrategySkip:
		return "skip"
	}
	return "custom"
}

// Fallback serves a substitute result when a call fails or is rejected (an open breaker, a full
// bulkhead), or directly while its Degrader (WithDegrader) says the operation is degraded.
// In an Executor it must be the first (outermost) policy.
type Fallback[T any] struct {
	strategy  Strategy
	name      string
	clock     Clock
	observer  Observer
	handles   func(error) bool
	degrader  *Degrader
	fn        func(ctx context.Context, err error) (T, error)
	ttl       time.Duration
	served    atomic.Uint64
	cacheMu   sync.Mutex
	cached    T         // guarded by cacheMu
	cachedAt  time.Time // guarded by cacheMu
	hasCached bool      // guarded by cacheMu
}

func (*Fallback[T]) policy() {}

// NewFallback serves fn(ctx, err). Options: WithName, WithClock, WithObserver, WithDegrader,
// WithFailurePredicate (which errors fall back; default: every error but caller cancellation).
func NewFallback[T any](fn func(ctx context.Context, err error) (T, error), opts ...Option) *Fallback[T] {
	return newFallback(StrategyCustom, fn, opts)
}

// FallbackCache serves the last successful result if it is younger than ttl (0: any age);
// without one it returns the original error.
func FallbackCache[T any](ttl time.Duration, opts ...Option) *Fallback[T] {
	f := newFallback[T](StrategyCache, nil, opts)
	f.ttl = ttl
	f.fn = f.fromCache
	return f
}

// FallbackBackup calls backup instead.
func FallbackBackup[T any](backup func(context.Context) (T, error), opts ...Option) *Fallback[T] {
	return newFallback(StrategyBackup, func(ctx context.Context, _ error) (T, error) { return backup(ctx) }, opts)
}

// FallbackReduce calls reduced, a cheaper variant of lower quality, instead.
func FallbackReduce[T any](reduced func(context.Context) (T, error), opts ...Option) *Fallback[T] {
	return newFallback(StrategyReduce, func(ctx context.Context, _ error) (T, error) { return reduced(ctx) }, opts)
}

// FallbackSkip skips a non-critical step: it returns the zero value and no error.
func FallbackSkip[T any](opts ...Option) *Fallback[T] {
	return newFallback(StrategySkip, func(context.Context, error) (T, error) {
		var zero T
		return zero, nil
	}, opts)
}

func newFallback[T any](s Strategy, fn func(context.Context, error) (T, error), opts []Option) *Fallback[T] {
	o := buildOptions(opts)
	f := &Fallback[T]{strategy: s, name: o.name, clock: o.clock, observer: o.observer,
		handles: o.isFailure, degrader: o.degrader, fn: fn}
	if f.handles == nil {
		f.handles = func(err error) bool { return !errors.Is(err, context.Canceled) }
	}
	return f
}

// Strategy returns the fallback's strategy.
func (f *Fallback[T]) Strategy() Strategy { return f.strategy }

// Served returns how many results the fallback served.
func (f *Fallback[T]) Served() uint64 { return f.served.Load() }

func (f *Fallback[T]) fromCache(_ context.Context, err error) (T, error) {
	f.cacheMu.Lock()
	defer f.cacheMu.Unlock()
	if f.hasCached && (f.ttl <= 0 || f.clock.Now().Sub(f.cachedAt) < f.ttl) {
		return f.cached, nil
	}
	var zero T
	return zero, err
}

// remember keeps v for the cache strategy.
func (f *Fallback[T]) remember(v T) {
	if f.strategy != StrategyCache {
		return
	}
	f.cacheMu.Lock()
	f.cached, f.cachedAt, f.hasCached = v, f.clock.Now(), true
	f.cacheMu.Unlock()
}

// serve returns the fallback result for err.
func (f *Fallback[T]) serve(ctx context.Context, err error) (T, error) {
	f.served.Add(1)
	emit(f.observer, Event{Kind: EventFallback, Name: f.name, Time: f.clock.Now(),
		Reason: f.strategy.String(), Err: err})
	return f.fn(ctx, err)
}

// Execute runs fn and falls back on failure (or at once while degraded).
func (f *Fallback[T]) Execute(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	return execute(ctx, nil, f, fn)
}
