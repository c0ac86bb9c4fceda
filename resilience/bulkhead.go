package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// BulkheadConfig bounds concurrency.
type BulkheadConfig struct {
	// MaxConcurrent is the number of calls that may run at once (0: the bulkhead is off).
	MaxConcurrent int `toml:"max_concurrent"`
	// MaxWait is how long a call may wait for a slot before it is rejected (0: reject at once).
	MaxWait time.Duration `toml:"max_wait"`
}

// Validate reports the first invalid key.
func (c BulkheadConfig) Validate() error {
	var errs []error
	if c.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("max_concurrent: must be >= 0, got %d", c.MaxConcurrent))
	}
	if c.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("max_wait: must be >= 0, got %v", c.MaxWait))
	}
	return errors.Join(errs...)
}

// Bulkhead limits how many calls run at once, so that one slow dependency cannot take every
// goroutine and connection of the process.
type Bulkhead struct {
	name     string
	sem      chan struct{}
	maxWait  time.Duration
	clock    Clock
	observer Observer
	rejected atomic.Uint64
}

// NewBulkhead builds a Bulkhead; options: WithName, WithClock, WithObserver.
func NewBulkhead(cfg BulkheadConfig, opts ...Option) (*Bulkhead, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bulkhead: %w", err)
	}
	if cfg.MaxConcurrent == 0 {
		return nil, errors.New("bulkhead: max_concurrent: must be > 0")
	}
	o := buildOptions(opts)
	return &Bulkhead{name: o.name, sem: make(chan struct{}, cfg.MaxConcurrent),
		maxWait: cfg.MaxWait, clock: o.clock, observer: o.observer}, nil
}

// Acquire takes a slot, waiting up to MaxWait; call Release when done. It returns
// ErrBulkheadFull, or the context's error if ctx ends first.
func (b *Bulkhead) Acquire(ctx context.Context) error {
	select {
	case b.sem <- struct{}{}:
		return nil
	default:
	}
	if b.maxWait > 0 {
		t := b.clock.NewTimer(b.maxWait)
		defer t.Stop()
		select {
		case b.sem <- struct{}{}:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C():
		}
	}
	b.rejected.Add(1)
	err := &RejectedError{Reason: ReasonBulkheadFull, Name: b.name}
	emit(b.observer, Event{Kind: EventRejected, Name: b.name, Time: b.clock.Now(),
		Reason: ReasonBulkheadFull, Err: err})
	return err
}

// Release frees a slot taken by Acquire.
func (b *Bulkhead) Release() { <-b.sem }

// InFlight returns the number of slots taken.
func (b *Bulkhead) InFlight() int { return len(b.sem) }

// Rejected returns how many calls found no slot.
func (b *Bulkhead) Rejected() uint64 { return b.rejected.Load() }

// Execute runs fn in a slot.
func (b *Bulkhead) Execute(ctx context.Context, fn func(context.Context) error) error {
	if err := b.Acquire(ctx); err != nil {
		return err
	}
	defer b.Release()
	return fn(ctx)
}
