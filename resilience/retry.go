package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// RetryConfig configures retries with exponential backoff and jitter. Start from
// NewDefaultRetryConfig.
type RetryConfig struct {
	// Disabled turns retries off in a manager policy.
	Disabled bool `toml:"disabled"`
	// MaxAttempts bounds the attempts, the first included (0: no bound; then MaxElapsed must
	// be set).
	MaxAttempts int `toml:"max_attempts"`
	// MaxElapsed bounds the time spent retrying, counted from the first failure (0: no bound).
	MaxElapsed time.Duration `toml:"max_elapsed"`
	// BaseDelay is the wait after the first failure; each later wait is Multiplier times the
	// previous one, up to MaxDelay.
	BaseDelay  time.Duration `toml:"base_delay"`
	MaxDelay   time.Duration `toml:"max_delay"`
	Multiplier float64       `toml:"multiplier"`
	// Jitter is the randomization factor: each wait is drawn from [d*(1-Jitter), d*(1+Jitter)].
	Jitter float64 `toml:"jitter"`
	// Budget caps retries as a fraction of calls, shared by every caller of the policy.
	Budget BudgetConfig `toml:"budget"`
}

// BudgetConfig is a token bucket of retries: every call adds Ratio tokens, every second adds
// MinPerSecond, each retry takes one, and at most Burst are kept. Ratio and MinPerSecond both
// 0 disable the budget.
type BudgetConfig struct {
	Ratio        float64 `toml:"ratio"`
	MinPerSecond float64 `toml:"min_per_second"`
	Burst        float64 `toml:"burst"`
}

// NewDefaultRetryConfig: 5 attempts within 1 minute, 100ms doubling to 5s, ±20% jitter, and
// retries capped at 10% of calls plus 1 per second (burst 10).
func NewDefaultRetryConfig() RetryConfig {
	return RetryConfig{
		MaxAttempts: 5,
		MaxElapsed:  time.Minute,
		BaseDelay:   100 * time.Millisecond,
		MaxDelay:    5 * time.Second,
		Multiplier:  2,
		Jitter:      0.2,
		Budget:      BudgetConfig{Ratio: 0.1, MinPerSecond: 1, Burst: 10},
	}
}

// Validate reports the first invalid key.
func (c RetryConfig) Validate() error {
	if c.Disabled {
		return nil
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if c.MaxAttempts < 0 {
		bad("max_attempts", "must be >= 0, got %d", c.MaxAttempts)
	}
	if c.MaxElapsed < 0 {
		bad("max_elapsed", "must be >= 0, got %v", c.MaxElapsed)
	}
	if c.MaxAttempts == 0 && c.MaxElapsed == 0 {
		bad("max_attempts", "max_attempts or max_elapsed must bound the retries")
	}
	if c.BaseDelay < 0 {
		bad("base_delay", "must be >= 0, got %v", c.BaseDelay)
	}
	if c.MaxDelay < c.BaseDelay {
		bad("max_delay", "must be >= base_delay (%v), got %v", c.BaseDelay, c.MaxDelay)
	}
	if c.Multiplier < 1 || math.IsInf(c.Multiplier, 0) || math.IsNaN(c.Multiplier) {
		bad("multiplier", "must be >= 1, got %v", c.Multiplier)
	}
	if c.Jitter < 0 || c.Jitter > 1 {
		bad("jitter", "must be within [0, 1], got %v", c.Jitter)
	}
	if c.Budget.Ratio < 0 {
		bad("budget.ratio", "must be >= 0, got %v", c.Budget.Ratio)
	}
	if c.Budget.MinPerSecond < 0 {
		bad("budget.min_per_second", "must be >= 0, got %v", c.Budget.MinPerSecond)
	}
	if c.Budget.enabled() && c.Budget.Burst < 1 {
		bad("budget.burst", "must be >= 1 when the budget is on, got %v", c.Budget.Burst)
	}
	return errors.Join(errs...)
}

// Retry re-runs failed calls with exponential backoff and jitter. Which errors are retried is
// decided by IsRetryable (or WithRetryIf); a Throttled error's delay is the minimum wait.
// Retries stop when the caller's context ends, when max_attempts or max_elapsed run out, when
// the caller's deadline would pass during the wait, or when the retry budget is empty.
type Retry struct {
	cfg      RetryConfig
	name     string
	clock    Clock
	observer Observer
	retryIf  func(error) bool
	budget   *budget

	retries        atomic.Uint64
	exhausted      atomic.Uint64
	budgetRejected atomic.Uint64
}

// NewRetry builds a Retry; options: WithName, WithClock, WithObserver, WithRetryIf.
func NewRetry(cfg RetryConfig, opts ...Option) (*Retry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	o := buildOptions(opts)
	r := &Retry{cfg: cfg, name: o.name, clock: o.clock, observer: o.observer, retryIf: o.retryIf}
	if r.retryIf == nil {
		r.retryIf = IsRetryable
	}
	if cfg.Budget.enabled() {
		r.budget = newBudget(cfg.Budget, o.clock)
	}
	return r, nil
}

// Execute runs fn, retrying as configured. It returns nil, the first non-retryable error, or
// the last error wrapped with ErrRetriesExhausted, ErrRetryBudgetExhausted or the context's
// error (both remain matchable with errors.Is).
func (r *Retry) Execute(ctx context.Context, fn func(context.Context) error) error {
	return r.do(ctx, fn)
}

func (r *Retry) do(ctx context.Context, fn func(context.Context) error) error {
	if r.budget != nil {
		r.budget.deposit()
	}
	var firstFailure time.Time
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !r.retryIf(err) {
			return err
		}
		if r.cfg.MaxAttempts > 0 && attempt >= r.cfg.MaxAttempts {
			r.exhausted.Add(1)
			return fmt.Errorf("%w after %d attempts: %w", ErrRetriesExhausted, attempt, err)
		}
		now := r.clock.Now()
		if attempt == 1 {
			firstFailure = now
		}
		delay := r.backoff(attempt)
		if floor, ok := RetryAfter(err); ok && floor > delay {
			delay = floor
		}
		if r.cfg.MaxElapsed > 0 && now.Sub(firstFailure)+delay > r.cfg.MaxElapsed {
			r.exhausted.Add(1)
			return fmt.Errorf("%w after %d attempts (max_elapsed %v): %w", ErrRetriesExhausted,
				attempt, r.cfg.MaxElapsed, err)
		}
		if dl, ok := ctx.Deadline(); ok && now.Add(delay).After(dl) {
			// The caller would give up before the next attempt could start.
			return err
		}
		if r.budget != nil && !r.budget.withdraw(now) {
			r.budgetRejected.Add(1)
			emit(r.observer, Event{Kind: EventRejected, Name: r.name, Time: now, Attempt: attempt,
				Reason: ReasonRetryBudget, Err: err})
			return fmt.Errorf("%w: %w", ErrRetryBudgetExhausted, err)
		}
		r.retries.Add(1)
		emit(r.observer, Event{Kind: EventRetry, Name: r.name, Time: now, Attempt: attempt,
			Delay: delay, Err: err})
		if werr := r.wait(ctx, delay); werr != nil {
			return fmt.Errorf("%w (while waiting to retry after: %w)", werr, err)
		}
	}
}

// backoff returns the jittered wait after the given failed attempt.
func (r *Retry) backoff(attempt int) time.Duration {
	d := float64(r.cfg.BaseDelay) * math.Pow(r.cfg.Multiplier, float64(attempt-1))
	d = min(d, float64(r.cfg.MaxDelay))
	if j := r.cfg.Jitter; j > 0 {
		d *= 1 - j + 2*j*rand.Float64()
	}
	return time.Duration(d)
}

func (r *Retry) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// RetryMetrics counts what a Retry did.
type RetryMetrics struct {
	Retries, Exhausted, BudgetRejected uint64
}

// Metrics returns a snapshot of the retry counters.
func (r *Retry) Metrics() RetryMetrics {
	return RetryMetrics{Retries: r.retries.Load(), Exhausted: r.exhausted.Load(),
		BudgetRejected: r.budgetRejected.Load()}
}
