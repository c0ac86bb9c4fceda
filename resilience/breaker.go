package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// State is a circuit breaker state.
type State uint32

const (
	StateClosed State = iota
	StateHalfOpen
	StateOpen
)

func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half_open"
	case StateOpen:
		return "open"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// Breaker is a three-state circuit breaker, safe for concurrent use; use one per dependency
// (endpoint). In the closed state a call costs two atomic loads to be allowed and one or two
// atomic operations to be recorded, with no lock and no allocation; the clock is read only
// when slow calls or a time window are configured.
type Breaker struct {
	name      string
	cfg       BreakerConfig
	clock     Clock
	origin    time.Time
	isFailure func(error) bool
	observer  Observer
	timeStart bool // calls are timed: slow-call detection is on

	state     atomic.Uint32
	win       atomic.Pointer[breakerWindow] // the closed-state window; replaced on closing
	openUntil atomic.Int64                  // ns since origin; meaningful in StateOpen

	rejected    atomic.Uint64
	transitions [3]atomic.Uint64 // by target State

	mu             sync.Mutex
	gen            uint64      // guarded by mu; bumped by every transition so late trials are ignored
	trials         []trialSlot // guarded by mu
	trialSuccesses int         // guarded by mu
	pending        []Event     // guarded by mu; state changes not yet delivered
	hasPending     atomic.Bool // set under mu with pending
	delivering     atomic.Bool // one goroutine at a time delivers, in order
}

type trialSlot struct {
	busy  bool
	start time.Time
}

type breakerWindow struct {
	consecutive atomic.Int64
	count       *countWindow
	time        *timeWindow
}

// NewBreaker builds a breaker from cfg; options: WithName, WithClock, WithObserver,
// WithFailurePredicate.
func NewBreaker(cfg BreakerConfig, opts ...Option) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("circuit_breaker: %w", err)
	}
	o := buildOptions(opts)
	b := &Breaker{
		name:      o.name,
		cfg:       cfg,
		clock:     o.clock,
		isFailure: o.isFailure,
		observer:  o.observer,
		timeStart: cfg.SlowCallRate > 0,
		trials:    make([]trialSlot, cfg.HalfOpenCalls),
	}
	if b.isFailure == nil {
		b.isFailure = IsFailure
	}
	b.origin = b.clock.Now()
	b.win.Store(b.newWindow(b.origin))
	return b, nil
}

func (b *Breaker) newWindow(now time.Time) *breakerWindow {
	w := &breakerWindow{}
	if b.cfg.usesRates() {
		if b.cfg.Window == WindowTime {
			w.time = newTimeWindow(now, b.cfg.WindowDuration, b.cfg.WindowBuckets)
		} else {
			w.count = newCountWindow(b.cfg.WindowSize)
		}
	}
	return w
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

func (b *Breaker) since(now time.Time) int64 { return int64(now.Sub(b.origin)) }

// Permit is the right to make one call, returned by Allow. Report the call's outcome with
// Done exactly once. The zero Permit does nothing.
type Permit struct {
	b     *Breaker
	w     *breakerWindow
	gen   uint64
	start time.Time
	slot  int // trial slot in half-open, -1 in closed
}

// Trial reports whether this is a half-open trial call.
func (p Permit) Trial() bool { return p.b != nil && p.slot >= 0 }

// Deadline is when a trial call counts as failed (zero and false if it has none).
func (p Permit) Deadline() (time.Time, bool) {
	if !p.Trial() || p.b.cfg.TrialTimeout <= 0 {
		return time.Time{}, false
	}
	return p.start.Add(p.b.cfg.TrialTimeout), true
}

// Allow asks to make a call. It returns ErrOpen (wrapped as Throttled with the time left before
// trials resume) when the breaker is open or all trial slots of half-open are taken.
func (b *Breaker) Allow() (Permit, error) {
	if State(b.state.Load()) == StateClosed {
		p := Permit{b: b, w: b.win.Load(), slot: -1}
		if b.timeStart {
			p.start = b.clock.Now()
		}
		return p, nil
	}
	return b.allowSlow()
}

func (b *Breaker) allowSlow() (Permit, error) {
	now := b.clock.Now()
	if State(b.state.Load()) == StateOpen {
		// Fast rejection without the lock while the recovery timeout runs.
		if left := b.openUntil.Load() - b.since(now); left > 0 {
			return Permit{}, b.reject(now, time.Duration(left))
		}
	}
	b.mu.Lock()
	p, wait, ok := b.allowLocked(now)
	b.mu.Unlock()
	b.deliver()
	if !ok {
		return Permit{}, b.reject(now, wait)
	}
	return p, nil
}

// allowLocked decides on a call outside the closed fast path; wait is the suggested delay of
// a rejection.
func (b *Breaker) allowLocked(now time.Time) (p Permit, wait time.Duration, ok bool) {
	switch State(b.state.Load()) {
	case StateClosed:
		p = Permit{b: b, w: b.win.Load(), slot: -1}
		if b.timeStart {
			p.start = now
		}
		return p, 0, true
	case StateOpen:
		if left := b.openUntil.Load() - b.since(now); left > 0 {
			return Permit{}, time.Duration(left), false
		}
		b.transitionLocked(StateHalfOpen, now, "recovery timeout elapsed", nil)
	}
	for i := range b.trials {
		if !b.trials[i].busy {
			b.trials[i] = trialSlot{busy: true, start: now}
			return Permit{b: b, gen: b.gen, start: now, slot: i}, 0, true
		}
	}
	// All trial slots are taken: a trial past its deadline is hung and counts as failed.
	if tt := b.cfg.TrialTimeout; tt > 0 {
		soonest := tt
		for i := range b.trials {
			left := tt - now.Sub(b.trials[i].start)
			if left <= 0 {
				b.transitionLocked(StateOpen, now, "trial call exceeded trial_timeout", nil)
				return Permit{}, b.cfg.RecoveryTimeout, false
			}
			soonest = min(soonest, left)
		}
		// A trial usually ends long before its deadline and then decides for everyone: suggest
		// a short wait rather than the whole trial timeout, or callers stall on a healthy
		// endpoint (seen with an exporter's workers behind one trial).
		return Permit{}, max(min(soonest, b.cfg.RecoveryTimeout/10), time.Millisecond), false
	}
	return Permit{}, 0, false
}

func (b *Breaker) reject(now time.Time, wait time.Duration) error {
	b.rejected.Add(1)
	err := Throttled(&RejectedError{Reason: ReasonCircuitOpen, Name: b.name}, wait)
	emit(b.observer, Event{Kind: EventRejected, Name: b.name, Time: now, Delay: wait,
		Reason: ReasonCircuitOpen, Err: err})
	return err
}

// Done records the outcome of the permitted call. Caller cancellation (context.Canceled) is
// not counted; other errors count as failures as the breaker's failure predicate says.
func (p Permit) Done(err error) {
	b := p.b
	if b == nil {
		return
	}
	ignored, failed := false, false
	if err != nil {
		ignored = errors.Is(err, context.Canceled)
		failed = !ignored && b.isFailure(err)
	}
	var now time.Time
	slow := false
	if b.timeStart {
		now = b.clock.Now()
		slow = now.Sub(p.start) >= b.cfg.SlowCallDuration
	}
	if p.slot >= 0 {
		b.trialDone(p, ignored, failed || slow, err)
		return
	}
	if !ignored {
		b.recordClosed(p.w, failed, slow, now, err)
	}
}

// recordClosed counts an outcome in the closed state; err is the call's error, carried by
// the state change it may cause so that the log says what tripped the breaker.
func (b *Breaker) recordClosed(w *breakerWindow, failed, slow bool, now time.Time, err error) {
	if failed {
		n := w.consecutive.Add(1)
		if th := b.cfg.FailureThreshold; th > 0 && n >= int64(th) {
			b.trip(w, "consecutive failures reached failure_threshold", err)
			return
		}
	} else if w.consecutive.Load() != 0 {
		w.consecutive.Store(0)
	}
	var c windowCounts
	switch {
	case w.count != nil:
		c = w.count.record(outcomeOf(failed, slow))
	case w.time != nil:
		if now.IsZero() {
			now = b.clock.Now()
		}
		c = w.time.record(now, outcomeOf(failed, slow), 0)
	default:
		return
	}
	if !failed && !slow || c.calls < uint64(b.cfg.MinimumCalls) || c.calls == 0 {
		return
	}
	calls := float64(c.calls)
	switch {
	case b.cfg.FailureRate > 0 && float64(c.failures)/calls >= b.cfg.FailureRate:
		b.trip(w, "failure rate reached failure_rate", err)
	case b.cfg.SlowCallRate > 0 && float64(c.slow)/calls >= b.cfg.SlowCallRate:
		b.trip(w, "slow call rate reached slow_call_rate", err)
	}
}

// trip opens the breaker if w is still the window of the closed state.
func (b *Breaker) trip(w *breakerWindow, reason string, err error) {
	b.mu.Lock()
	if State(b.state.Load()) == StateClosed && b.win.Load() == w {
		b.transitionLocked(StateOpen, b.clock.Now(), reason, err)
	}
	b.mu.Unlock()
	b.deliver()
}

func (b *Breaker) trialDone(p Permit, ignored, failed bool, err error) {
	b.mu.Lock()
	if p.gen == b.gen && State(b.state.Load()) == StateHalfOpen {
		b.trials[p.slot] = trialSlot{}
		switch {
		case ignored:
		case failed:
			b.transitionLocked(StateOpen, b.clock.Now(), "trial call failed", err)
		default:
			b.trialSuccesses++
			if b.trialSuccesses >= b.cfg.SuccessThreshold {
				b.transitionLocked(StateClosed, b.clock.Now(), "trial calls succeeded", nil)
			}
		}
	}
	b.mu.Unlock()
	b.deliver()
}

func (b *Breaker) transitionLocked(to State, now time.Time, reason string, cause error) {
	from := State(b.state.Load())
	b.gen++
	clear(b.trials)
	b.trialSuccesses = 0
	switch to {
	case StateOpen:
		b.openUntil.Store(b.since(now) + int64(b.cfg.RecoveryTimeout))
	case StateClosed:
		// A fresh window: the failures that opened the breaker are history.
		b.win.Store(b.newWindow(now))
	}
	b.state.Store(uint32(to))
	b.transitions[to].Add(1)
	b.pending = append(b.pending, Event{Kind: EventStateChange, Name: b.name, Time: now,
		From: from, To: to, Reason: reason, Err: cause})
	b.hasPending.Store(true)
}

// deliver hands pending state changes to the observer, in order, without holding b.mu. If
// another goroutine (or the observer itself, re-entering) is delivering, it takes ours too.
func (b *Breaker) deliver() {
	for b.hasPending.Load() {
		if !b.delivering.CompareAndSwap(false, true) {
			return
		}
		b.mu.Lock()
		evs := b.pending
		b.pending = nil
		b.hasPending.Store(false)
		b.mu.Unlock()
		for _, e := range evs {
			emit(b.observer, e)
		}
		b.delivering.Store(false)
	}
}

// Execute runs fn if the breaker allows it and records its outcome. A trial call runs under
// the trial deadline.
func (b *Breaker) Execute(ctx context.Context, fn func(context.Context) error) error {
	p, err := b.Allow()
	if err != nil {
		return err
	}
	finished := false
	defer doneOnPanic(&p, &finished)
	if dl, ok := p.Deadline(); ok {
		tctx, cancel := withDeadline(ctx, b.clock, dl, errTrialTimeout)
		err = fn(tctx)
		cancel()
	} else {
		err = fn(ctx)
	}
	finished = true
	p.Done(err)
	return err
}

var (
	errTrialTimeout = errors.New("circuit breaker trial call exceeded trial_timeout")
	errPanicked     = errors.New("resilience: the call panicked")
)

// doneOnPanic, deferred, records a call that panicked as failed and lets the panic go on
// unrecovered, so that a panicking trial cannot hold its slot.
func doneOnPanic(p *Permit, finished *bool) {
	if !*finished {
		p.Done(errPanicked)
	}
}

// State returns the current state; an open breaker whose recovery timeout has passed reports
// half-open, since its next call will be a trial.
func (b *Breaker) State() State {
	st := State(b.state.Load())
	if st == StateOpen && b.openUntil.Load() <= b.since(b.clock.Now()) {
		return StateHalfOpen
	}
	return st
}

// Reset closes the breaker and forgets its window.
func (b *Breaker) Reset() {
	b.mu.Lock()
	b.transitionLocked(StateClosed, b.clock.Now(), "reset", nil)
	b.mu.Unlock()
	b.deliver()
}

// BreakerMetrics is a snapshot of a breaker.
type BreakerMetrics struct {
	State State
	// Calls, Failures and SlowCalls are the totals of the current closed-state window.
	Calls, Failures, SlowCalls uint64
	ConsecutiveFailures        uint64
	Rejected                   uint64
	// Transitions counts entries into each state, indexed by State.
	Transitions [3]uint64
}

// Metrics returns a snapshot of the breaker's counters.
func (b *Breaker) Metrics() BreakerMetrics {
	m := BreakerMetrics{State: b.State(), Rejected: b.rejected.Load()}
	for i := range m.Transitions {
		m.Transitions[i] = b.transitions[i].Load()
	}
	w := b.win.Load()
	m.ConsecutiveFailures = uint64(max(w.consecutive.Load(), 0))
	var c windowCounts
	switch {
	case w.count != nil:
		c = w.count.snapshot()
	case w.time != nil:
		c = w.time.snapshot(b.clock.Now())
	}
	m.Calls, m.Failures, m.SlowCalls = c.calls, c.failures, c.slow
	return m
}
