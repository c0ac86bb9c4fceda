package resilience

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// HealthStatus is the health of one check or of the whole process.
type HealthStatus uint8

const (
	// StatusUnknown: the check has not concluded yet.
	StatusUnknown HealthStatus = iota
	StatusHealthy
	StatusDegraded
	StatusUnhealthy
)

func (s HealthStatus) String() string {
	switch s {
	case StatusHealthy:
		return "healthy"
	case StatusDegraded:
		return "degraded"
	case StatusUnhealthy:
		return "unhealthy"
	}
	return "unknown"
}

// MarshalText makes a HealthStatus read as its name in JSON.
func (s HealthStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// degradedError marks a check result as degraded rather than failed.
type degradedError struct{ err error }

func (e *degradedError) Error() string { return "degraded: " + e.err.Error() }
func (e *degradedError) Unwrap() error { return e.err }

// MarkDegraded lets a health check report "working, but impaired" (a queue filling up, one of
// several endpoints down). A nil err stays nil.
func MarkDegraded(err error) error {
	if err == nil {
		return nil
	}
	return &degradedError{err: err}
}

// CheckResult is the latest conclusion of one check.
type CheckResult struct {
	Name     string       `json:"name"`
	Status   HealthStatus `json:"status"`
	Critical bool         `json:"critical"`
	// Error is the last error, if the last run failed.
	Error               string        `json:"error,omitempty"`
	LastCheck           time.Time     `json:"last_check"`
	Duration            time.Duration `json:"duration"`
	ConsecutiveFailures int           `json:"consecutive_failures"`
}

// HealthReport is the aggregate health: unhealthy if a critical check is unhealthy or has not
// concluded yet, degraded if any check is degraded or a non-critical one unhealthy, healthy
// otherwise.
type HealthReport struct {
	Status HealthStatus  `json:"status"`
	Checks []CheckResult `json:"checks"`
}

// CheckOption refines a registered check.
type CheckOption func(*checkSpec)

// NonCritical makes a failing check degrade the aggregate instead of making it unhealthy.
func NonCritical() CheckOption { return func(s *checkSpec) { s.critical = false } }

type checkSpec struct {
	name     string
	check    func(context.Context) error
	interval time.Duration
	timeout  time.Duration
	retries  int
	critical bool
}

type checkState struct {
	spec   checkSpec
	result CheckResult // guarded by HealthChecker.mu
}

// HealthChecker runs named checks periodically, each in its own goroutine, and aggregates
// them for /ready.
type HealthChecker struct {
	clock Clock
	log   *slog.Logger

	mu     sync.Mutex
	checks []*checkState      // guarded by mu; in registration order
	ctx    context.Context    // guarded by mu; nil unless started
	cancel context.CancelFunc // guarded by mu
	wg     sync.WaitGroup
}

// NewHealthChecker returns a checker with no checks. Options: WithClock, WithLogger.
func NewHealthChecker(opts ...Option) *HealthChecker {
	o := buildOptions(opts)
	h := &HealthChecker{clock: o.clock, log: o.logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

var errCheckTimeout = errors.New("health check timed out")

// Register adds a check run every interval, each run bounded by timeout; it becomes unhealthy
// after more than retries consecutive failures (retries 0: at the first). Checks are critical
// unless NonCritical is given. A check registered after Start starts at once.
func (h *HealthChecker) Register(name string, check func(context.Context) error, interval, timeout time.Duration, retries int, opts ...CheckOption) error {
	switch {
	case name == "":
		return errors.New("resilience: health check: name must not be empty")
	case check == nil:
		return fmt.Errorf("resilience: health check %q: check must not be nil", name)
	case interval <= 0:
		return fmt.Errorf("resilience: health check %q: interval must be > 0, got %v", name, interval)
	case timeout <= 0:
		return fmt.Errorf("resilience: health check %q: timeout must be > 0, got %v", name, timeout)
	case retries < 0:
		return fmt.Errorf("resilience: health check %q: retries must be >= 0, got %d", name, retries)
	}
	spec := checkSpec{name: name, check: check, interval: interval, timeout: timeout,
		retries: retries, critical: true}
	for _, o := range opts {
		o(&spec)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.checks {
		if c.spec.name == name {
			return fmt.Errorf("resilience: health check %q: already registered", name)
		}
	}
	c := &checkState{spec: spec, result: CheckResult{Name: name, Critical: spec.critical}}
	h.checks = append(h.checks, c)
	if h.ctx != nil {
		h.startLocked(c)
	}
	return nil
}

// Start runs every check now and then at its interval, until Stop or until ctx ends.
func (h *HealthChecker) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx != nil {
		return errors.New("resilience: health checker already started")
	}
	h.ctx, h.cancel = context.WithCancel(ctx)
	for _, c := range h.checks {
		h.startLocked(c)
	}
	return nil
}

func (h *HealthChecker) startLocked(c *checkState) {
	h.wg.Add(1)
	go h.loop(h.ctx, c)
}

// Stop stops the checks and waits for running ones to return. It is idempotent, and safe
// without Start. A check that ignores its context delays Stop until it returns.
func (h *HealthChecker) Stop() {
	h.mu.Lock()
	if h.cancel != nil {
		h.cancel()
	}
	h.ctx, h.cancel = nil, nil
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *HealthChecker) loop(ctx context.Context, c *checkState) {
	defer h.wg.Done()
	for {
		h.runCheck(ctx, c)
		t := h.clock.NewTimer(c.spec.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// RunOnce runs every check once, concurrently, and waits for them: for startup and tests.
func (h *HealthChecker) RunOnce(ctx context.Context) {
	h.mu.Lock()
	checks := append([]*checkState(nil), h.checks...)
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() { h.runCheck(ctx, c) })
	}
	wg.Wait()
}

func (h *HealthChecker) runCheck(ctx context.Context, c *checkState) {
	start := h.clock.Now()
	cctx, cancel := withTimeout(ctx, h.clock, c.spec.timeout, errCheckTimeout)
	err := safeCheck(cctx, c.spec.check)
	expired := timedOut(cctx, errCheckTimeout)
	cancel()
	if ctx.Err() != nil {
		return // stopping: this run concludes nothing
	}
	if expired {
		err = fmt.Errorf("%w after %v: %v", errCheckTimeout, c.spec.timeout, err)
	}
	now := h.clock.Now()

	h.mu.Lock()
	r := &c.result
	prev := r.Status
	r.LastCheck, r.Duration = now, now.Sub(start)
	var d *degradedError
	switch {
	case err == nil:
		r.Status, r.Error, r.ConsecutiveFailures = StatusHealthy, "", 0
	case errors.As(err, &d):
		r.Status, r.Error, r.ConsecutiveFailures = StatusDegraded, err.Error(), 0
	default:
		r.ConsecutiveFailures++
		r.Error = err.Error()
		if r.ConsecutiveFailures > c.spec.retries {
			r.Status = StatusUnhealthy
		}
	}
	cur := r.Status
	h.mu.Unlock()
	if cur != prev {
		h.log.Info("health check changed", "check", c.spec.name, "from", prev, "to", cur, "error", err)
	}
}

func safeCheck(ctx context.Context, check func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("health check panicked: %v", p)
		}
	}()
	return check(ctx)
}

// Status returns the aggregate health and the result of every check, in registration order.
func (h *HealthChecker) Status() HealthReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	rep := HealthReport{Status: StatusHealthy, Checks: make([]CheckResult, 0, len(h.checks))}
	for _, c := range h.checks {
		r := c.result
		rep.Checks = append(rep.Checks, r)
		switch {
		case r.Critical && (r.Status == StatusUnhealthy || r.Status == StatusUnknown):
			rep.Status = StatusUnhealthy
		case (r.Status == StatusDegraded || r.Status == StatusUnhealthy) && rep.Status == StatusHealthy:
			rep.Status = StatusDegraded
		}
	}
	return rep
}
