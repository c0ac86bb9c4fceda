package resilience

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// DegradeConfig says when to switch to degraded mode: when any set threshold is reached over
// the sliding window. Degraded mode ends when every signal is back below recoverFactor times
// its threshold, or when the window holds fewer than MinCalls calls (which is how a degraded
// operation gets probed again once the window has aged out).
type DegradeConfig struct {
	// ErrorRate is the failures/calls ratio that degrades (0: off).
	ErrorRate float64 `toml:"error_rate"`
	// Latency is the mean call latency that degrades (0: off).
	Latency time.Duration `toml:"latency"`
	// Resource is the resource use, as reported by the degrader's resource function in [0, 1],
	// that degrades (0: off).
	Resource float64 `toml:"resource"`
	// Window is the span of the sliding window, in 10 buckets.
	Window time.Duration `toml:"window"`
	// MinCalls is how many calls the window needs before rates and latency are judged.
	MinCalls int `toml:"min_calls"`
}

// recoverFactor is the hysteresis: a signal must fall to 80% of its threshold to recover, so
// that the mode does not flap around the threshold.
const recoverFactor = 0.8

// NewDefaultDegradeConfig degrades at 50% errors or 2s mean latency over 1 minute (10 calls).
func NewDefaultDegradeConfig() DegradeConfig {
	return DegradeConfig{ErrorRate: 0.5, Latency: 2 * time.Second, Window: time.Minute, MinCalls: 10}
}

// Validate reports the first invalid key.
func (c DegradeConfig) Validate() error {
	var errs []error
	if c.ErrorRate < 0 || c.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("error_rate: must be within [0, 1], got %v", c.ErrorRate))
	}
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency: must be >= 0, got %v", c.Latency))
	}
	if c.Resource < 0 || c.Resource > 1 {
		errs = append(errs, fmt.Errorf("resource: must be within [0, 1], got %v", c.Resource))
	}
	if c.ErrorRate == 0 && c.Latency == 0 && c.Resource == 0 {
		errs = append(errs, errors.New("error_rate: one of error_rate, latency or resource must be set"))
	}
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("window: must be > 0, got %v", c.Window))
	}
	if c.MinCalls < 0 {
		errs = append(errs, fmt.Errorf("min_calls: must be >= 0, got %d", c.MinCalls))
	}
	return errors.Join(errs...)
}

// ErrDegraded is what a Fallback receives when it serves because its Degrader is degraded
// rather than because the call failed.
var ErrDegraded = errors.New("resilience: degraded mode")

// Degrader watches error rate, latency and resource use, and says when an operation should
// degrade: serve a cached value, call a cheaper backup, reduce quality or skip itself.
type Degrader struct {
	cfg       DegradeConfig
	name      string
	clock     Clock
	observer  Observer
	isFailure func(error) bool
	resource  func() float64
	window    *timeWindow
	evalEvery time.Duration
	origin    time.Time

	degraded atomic.Bool
	nextEval atomic.Int64 // ns since origin

	mu     sync.Mutex
	reason string // guarded by mu
}

// NewDegrader builds a Degrader. resource, if not nil, reports resource use in [0, 1] (for
// example memory in use / limit); it is called at most once per window bucket. Options:
// WithName, WithClock, WithObserver, WithFailurePredicate.
func NewDegrader(cfg DegradeConfig, resource func() float64, opts ...Option) (*Degrader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("degradation: %w", err)
	}
	o := buildOptions(opts)
	now := o.clock.Now()
	d := &Degrader{
		cfg: cfg, name: o.name, clock: o.clock, observer: o.observer, isFailure: o.isFailure,
		resource: resource, window: newTimeWindow(now, cfg.Window, 10),
		evalEvery: max(cfg.Window/10, 1), origin: now,
	}
	if d.isFailure == nil {
		d.isFailure = IsFailure
	}
	return d, nil
}

// Record feeds one call's outcome and latency.
func (d *Degrader) Record(err error, latency time.Duration) {
	failed := err != nil && d.isFailure(err)
	d.window.record(d.clock.Now(), outcomeOf(failed, false), latency)
}

// Degraded reports whether the operation should run degraded. It re-evaluates at most once
// per window bucket; in between it is one atomic load and one clock read.
func (d *Degrader) Degraded() bool {
	now := d.clock.Now()
	t := int64(now.Sub(d.origin))
	next := d.nextEval.Load()
	if t < next || !d.nextEval.CompareAndSwap(next, t+int64(d.evalEvery)) {
		return d.degraded.Load()
	}
	return d.evaluate(now)
}

// Reason says which signal caused the current degraded mode ("" when not degraded).
func (d *Degrader) Reason() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reason
}

func (d *Degrader) evaluate(now time.Time) bool {
	c := d.window.snapshot(now)
	res := math.NaN()
	if d.resource != nil && d.cfg.Resource > 0 {
		res = d.resource()
	}
	d.mu.Lock()
	was := d.degraded.Load()
	factor := 1.0
	if was {
		factor = recoverFactor
	}
	reason := ""
	enough := c.calls > 0 && c.calls >= uint64(d.cfg.MinCalls)
	switch {
	case enough && d.cfg.ErrorRate > 0 &&
		float64(c.failures)/float64(c.calls) >= d.cfg.ErrorRate*factor:
		reason = "error_rate"
	case enough && d.cfg.Latency > 0 &&
		float64(c.latency)/float64(c.calls) >= float64(d.cfg.Latency)*factor:
		reason = "latency"
	case !math.IsNaN(res) && res >= d.cfg.Resource*factor:
		reason = "resource"
	}
	now2 := reason != ""
	d.reason = reason
	d.degraded.Store(now2)
	d.mu.Unlock()
	if now2 != was {
		emit(d.observer, Event{Kind: EventDegradation, Name: d.name, Time: now, Degraded: now2,
			Reason: reason})
	}
	return now2
}
