package resilience

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/metric"
)

// Manager runs operations under named policies built from Config: the seed's
// execute_with_resilience("my_operation", op). A name without its own section in
// Config.Policies gets the defaults. Each name has its own breaker, retry budget, bulkhead and
// rate limiter, created on first use and shared by every caller of that name.
type Manager struct {
	cfg  Config
	opts options
	log  *slog.Logger
	reg  metric.Registration

	policies atomic.Pointer[map[string]*managed] // copy-on-write: reads take no lock
	mu       sync.Mutex                          // serializes writers of policies
}

type managed struct {
	core    *core
	timeout TimeoutConfig
}

// NewManager validates cfg and builds the named policies it lists. Options: WithClock,
// WithObserver (events of every policy, named after it), WithLogger, WithMeter (publish
// Metrics through OpenTelemetry; Close unregisters).
func NewManager(cfg Config, opts ...Option) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("resilience: %w", err)
	}
	m := &Manager{cfg: cfg, opts: buildOptions(opts)}
	m.log = m.opts.logger
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	empty := map[string]*managed{}
	m.policies.Store(&empty)
	for name := range cfg.Policies {
		if _, err := m.get(name); err != nil {
			return nil, err
		}
	}
	if m.opts.meter != nil {
		reg, err := RegisterOTelMetrics(m.opts.meter, m.Metrics)
		if err != nil {
			return nil, err
		}
		m.reg = reg
	}
	return m, nil
}

// get returns the named policy, building it on first use.
func (m *Manager) get(name string) (*managed, error) {
	if p, ok := (*m.policies.Load())[name]; ok {
		return p, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.policies.Load()
	if p, ok := cur[name]; ok {
		return p, nil
	}
	p, err := m.build(name)
	if err != nil {
		return nil, err
	}
	next := make(map[string]*managed, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = p
	m.policies.Store(&next)
	m.log.Debug("resilience policy created", "policy", name)
	return p, nil
}

// build assembles the chain retry → circuit breaker → rate limit → bulkhead → timeout: each
// attempt of a retry goes through the breaker, and the timeout bounds one attempt.
func (m *Manager) build(name string) (*managed, error) {
	set := m.cfg.PolicySet(name)
	opts := []Option{WithName(name), WithClock(m.opts.clock), WithObserver(m.opts.observer)}
	var policies []Policy
	if !set.Retry.Disabled {
		r, err := NewRetry(set.Retry, opts...)
		if err != nil {
			return nil, fmt.Errorf("resilience: policy %q: %w", name, err)
		}
		policies = append(policies, r)
	}
	if !set.CircuitBreaker.Disabled {
		b, err := NewBreaker(set.CircuitBreaker, opts...)
		if err != nil {
			return nil, fmt.Errorf("resilience: policy %q: %w", name, err)
		}
		policies = append(policies, b)
	}
	if set.RateLimit.Rate > 0 {
		l, err := NewRateLimiter(set.RateLimit, opts...)
		if err != nil {
			return nil, fmt.Errorf("resilience: policy %q: %w", name, err)
		}
		policies = append(policies, l)
	}
	if set.Bulkhead.MaxConcurrent > 0 {
		b, err := NewBulkhead(set.Bulkhead, opts...)
		if err != nil {
			return nil, fmt.Errorf("resilience: policy %q: %w", name, err)
		}
		policies = append(policies, b)
	}
	if set.Timeout.Call > 0 {
		policies = append(policies, NewTimeout(set.Timeout.Call, opts...))
	}
	c, err := newCore(name, policies)
	if err != nil {
		return nil, err
	}
	return &managed{core: c, timeout: set.Timeout}, nil
}

// Execute runs fn under the named policy.
func (m *Manager) Execute(ctx context.Context, name string, fn func(context.Context) error) error {
	p, err := m.get(name)
	if err != nil {
		return err
	}
	return p.core.call(ctx, fn)
}

// Execute runs fn, which returns a result, under the manager's named policy.
func Execute[T any](ctx context.Context, m *Manager, name string, fn func(context.Context) (T, error)) (T, error) {
	p, err := m.get(name)
	if err != nil {
		var zero T
		return zero, err
	}
	return execute[T](ctx, p.core, nil, fn)
}

// Breaker returns the named policy's circuit breaker (nil if it has none), for callers that
// need Allow/Done or the state, such as load balancers choosing among endpoints.
func (m *Manager) Breaker(name string) *Breaker {
	p, err := m.get(name)
	if err != nil {
		return nil
	}
	return p.core.breaker
}

// Timeouts returns the named policy's timeouts, for transports (connect, read, write).
func (m *Manager) Timeouts(name string) TimeoutConfig {
	return m.cfg.PolicySet(name).Timeout
}

// Metrics returns a snapshot of every named policy used so far, sorted by name.
func (m *Manager) Metrics() []Metrics {
	cur := *m.policies.Load()
	out := make([]Metrics, 0, len(cur))
	for _, p := range cur {
		out = append(out, p.core.metrics())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close unregisters the manager's metrics. The manager owns no goroutines; it stays usable.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg == nil {
		return nil
	}
	err := m.reg.Unregister()
	m.reg = nil
	if err != nil {
		return fmt.Errorf("resilience: unregister metrics: %w", err)
	}
	return nil
}
