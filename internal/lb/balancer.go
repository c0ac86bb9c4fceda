package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlp-dev/otlp/resilience"
)

// Settings is what code injects into a Balancer.
type Settings struct {
	Logger *slog.Logger
	// Clock drives ejections, breakers, refreshes and probes (default: the system clock).
	Clock resilience.Clock
	// Resolver replaces the source named in Config (endpoints, dns or file); it is resolved
	// again every dns.refresh_interval, and on every change if it is a Watcher.
	Resolver Resolver
	// DNS answers the DNS source's lookups (default: a new net.Resolver).
	DNS DNSLookuper
	// Policy replaces the policy named in Config.
	Policy Policy
	// Probe is the active health check of one endpoint (default: a TCP dial).
	Probe func(ctx context.Context, addr string) error
	// OnUpdate, if set, is called after every change of the endpoint set, in order, with the
	// addresses that joined and left. It runs under the balancer's update lock: it must not
	// call Update.
	OnUpdate func(added, removed []string)
}

// Balancer spreads calls over a set of endpoints; see the package documentation.
type Balancer struct {
	cfg      Config
	log      *slog.Logger
	clock    resilience.Clock
	policy   Policy
	resolver Resolver
	interval time.Duration // between re-resolutions; 0 for a static source
	probe    func(ctx context.Context, addr string) error
	onUpdate func(added, removed []string)
	health   passive
	breaker  *resilience.BreakerConfig // nil when disabled
	bopts    []resilience.Option       // of every endpoint's breaker

	snap     atomic.Pointer[snapshot]
	attempts sync.Pool     // *attempt
	trigger  chan struct{} // buffered 1: a pending re-resolution

	mu      sync.Mutex         // serializes updates and the lifecycle
	runCtx  context.Context    // guarded by mu; the background work's, set by Start
	cancel  context.CancelFunc // guarded by mu
	started bool               // guarded by mu
	stopped bool               // guarded by mu
	wg      sync.WaitGroup
}

// snapshot is an immutable endpoint set, sorted by address.
type snapshot struct {
	eps []*Endpoint
}

// New builds a Balancer from cfg. A static source is applied at once, so that Do works before
// Start; other sources are first resolved by Start.
func New(cfg Config, set Settings) (*Balancer, error) {
	if err := cfg.validate(set.Resolver == nil); err != nil {
		return nil, fmt.Errorf("lb: %w", err)
	}
	b := &Balancer{
		cfg:      cfg,
		log:      set.Logger,
		clock:    set.Clock,
		policy:   set.Policy,
		resolver: set.Resolver,
		probe:    set.Probe,
		onUpdate: set.OnUpdate,
		trigger:  make(chan struct{}, 1),
		health: passive{
			maxFails: cfg.Health.MaxFails,
			window:   cfg.Health.FailWindow,
			eject:    cfg.Health.EjectDuration,
			maxEje:   cfg.Health.MaxEjectDuration,
		},
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.clock == nil {
		b.clock = resilience.SystemClock{}
	}
	if b.policy == nil {
		b.policy, _ = NewPolicy(cfg.Policy) // validated
	}
	if b.probe == nil {
		b.probe = dialProbe
	}
	if !cfg.CircuitBreaker.Disabled {
		cb := cfg.CircuitBreaker
		b.breaker = &cb
		b.bopts = []resilience.Option{resilience.WithClock(b.clock), resilience.WithObserver(resilience.ObserverFunc(b.observeBreaker))}
	}
	b.attempts.New = func() any {
		a := &attempt{}
		a.exclude = a.excludeUnhealthy // bound once, so that Do does not allocate a closure
		return a
	}
	if b.resolver == nil {
		b.resolver, b.interval = b.sourceFromConfig(set.DNS)
	} else {
		b.interval = cfg.DNS.RefreshInterval
	}
	b.snap.Store(&snapshot{})
	if sr, ok := b.resolver.(StaticResolver); ok {
		if err := b.Update(sr); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *Balancer) sourceFromConfig(dns DNSLookuper) (Resolver, time.Duration) {
	switch c := b.cfg; {
	case c.DNS.Name != "":
		if dns == nil {
			dns = &net.Resolver{}
		}
		return &DNSResolver{Name: c.DNS.Name, Port: c.DNS.Port, SRV: c.DNS.SRV, Lookup: dns}, c.DNS.RefreshInterval
	case c.File.Path != "":
		return &FileResolver{Path: c.File.Path, Clock: b.clock}, c.File.RefreshInterval
	default:
		return StaticResolver(slices.Clone(c.Endpoints)), 0
	}
}

func (b *Balancer) observeBreaker(ev resilience.Event) {
	if ev.Kind != resilience.EventStateChange {
		return
	}
	lvl := slog.LevelInfo
	if ev.To == resilience.StateOpen {
		lvl = slog.LevelWarn
	}
	attrs := []any{"endpoint", ev.Name, "from", ev.From, "to", ev.To, "reason", ev.Reason}
	if ev.Err != nil {
		attrs = append(attrs, "error", ev.Err) // what tripped it
	}
	b.log.Log(context.Background(), lvl, "lb endpoint circuit breaker", attrs...)
}

// Endpoints returns a snapshot of every endpoint, sorted by address.
func (b *Balancer) Endpoints() []EndpointStatus {
	now := b.clock.Now()
	eps := b.snap.Load().eps
	out := make([]EndpointStatus, len(eps))
	for i, e := range eps {
		out[i] = e.status(now)
	}
	return out
}

// Update replaces the endpoint set with specs (duplicates: the first wins). Endpoints whose
// address remains keep their state; their weight is updated. An empty specs is refused with
// ErrNoEndpoints: losing every endpoint to a bad answer is worse than keeping stale ones.
func (b *Balancer) Update(specs []EndpointSpec) error {
	if len(specs) == 0 {
		return ErrNoEndpoints
	}
	for _, s := range specs {
		if err := s.validate(); err != nil {
			return fmt.Errorf("lb: %w", err)
		}
	}
	specs = slices.Clone(specs)
	slices.SortStableFunc(specs, func(x, y EndpointSpec) int { return strings.Compare(x.Address, y.Address) })
	specs = slices.CompactFunc(specs, func(x, y EndpointSpec) bool { return x.Address == y.Address })

	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.snap.Load().eps
	eps := make([]*Endpoint, 0, len(specs))
	var added, removed []string
	i := 0 // merge walk: old and specs are both sorted by address
	for _, s := range specs {
		for i < len(old) && old[i].addr < s.Address {
			removed = append(removed, old[i].addr)
			b.stopActiveLocked(old[i])
			i++
		}
		if i < len(old) && old[i].addr == s.Address {
			e := old[i]
			e.weight.Store(s.weight())
			eps = append(eps, e)
			i++
			continue
		}
		e, err := newEndpoint(s, &b.health, b.breaker, b.bopts...)
		if err != nil {
			return fmt.Errorf("lb: %w", err)
		}
		eps = append(eps, e)
		added = append(added, s.Address)
		b.startActiveLocked(e)
	}
	for ; i < len(old); i++ {
		removed = append(removed, old[i].addr)
		b.stopActiveLocked(old[i])
	}
	b.snap.Store(&snapshot{eps: eps})
	if len(added) == 0 && len(removed) == 0 {
		return nil // the same set; weights may have changed in place
	}
	b.log.Info("lb endpoints changed", "added", added, "removed", removed, "endpoints", len(eps))
	if b.onUpdate != nil {
		b.onUpdate(added, removed)
	}
	return nil
}

// Pick returns the endpoint a call with key would go to first (fail-open included), or nil if
// there are no endpoints. Callers that split a batch by key use it to group keys.
func (b *Balancer) Pick(key []byte) *Endpoint {
	s := b.snap.Load()
	if len(s.eps) == 0 {
		return nil
	}
	a := b.getAttempt()
	defer b.attempts.Put(a)
	if e := b.policy.Pick(key, s.eps, a.exclude); e != nil {
		return e
	}
	return a.leastRecentlyFailed(s.eps)
}

var errTrialTimeout = errors.New("lb: circuit breaker trial call exceeded trial_timeout")

// ErrAllFailed wraps the errors of a call that every endpoint refused or failed.
var ErrAllFailed = errors.New("lb: every endpoint failed")

// Do calls fn with an endpoint chosen for key (the trace id for consistent_hash; may be nil).
// It records the outcome in the endpoint's health and breaker. On a retryable failure it
// calls fn again on the next healthy endpoint, each endpoint at most once; a permanent error
// (resilience.IsPermanent) or the end of ctx is returned at once. When no healthy endpoint is
// left it fails open and tries the rest, least recently failed first. An open breaker still
// refuses its endpoint. If every attempt fails, the error wraps ErrAllFailed and each
// endpoint's error (so resilience.RetryAfter finds a breaker's or a server's delay).
func (b *Balancer) Do(ctx context.Context, key []byte, fn func(context.Context, *Endpoint) error) error {
	s := b.snap.Load()
	if len(s.eps) == 0 {
		b.Refresh()
		return resilience.Throttled(ErrNoEndpoints, minRefreshGap)
	}
	a := b.getAttempt()
	defer b.attempts.Put(a)
	var errs []error
	for len(a.tried) < len(s.eps) {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		e := b.policy.Pick(key, s.eps, a.exclude)
		if e == nil {
			e = a.leastRecentlyFailed(s.eps) // fail open
		}
		a.tried = append(a.tried, e)
		err := b.call(ctx, a, e, fn)
		if err == nil {
			return nil
		}
		if resilience.IsPermanent(err) || ctx.Err() != nil {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", e.addr, err))
	}
	b.Refresh() // everything failed: the set may have moved
	return fmt.Errorf("%w: %w", ErrAllFailed, errors.Join(errs...))
}

// call makes one attempt on e under its breaker. It starts at a.now (read just before the
// pick: the clock is slow enough on some hosts to matter) and moves a.now to its end.
func (b *Balancer) call(ctx context.Context, a *attempt, e *Endpoint, fn func(context.Context, *Endpoint) error) error {
	var permit resilience.Permit
	if e.breaker != nil {
		p, err := e.breaker.Allow()
		if err != nil {
			return err // refused, not failed: nothing was sent
		}
		permit = p
	}
	callCtx := ctx
	if dl, ok := permit.Deadline(); ok {
		// A half-open trial: one that hangs must not keep the endpoint out for long.
		tctx, cancel := context.WithCancelCause(ctx)
		t := b.clock.AfterFunc(dl.Sub(b.clock.Now()), func() { cancel(errTrialTimeout) })
		defer t.Stop()
		defer cancel(nil)
		callCtx = tctx
	}
	e.inflight.Add(1)
	defer e.inflight.Add(-1) // also if fn panics
	err := fn(callCtx, e)
	if err != nil && ctx.Err() == nil && context.Cause(callCtx) == errTrialTimeout {
		err = errTrialTimeout // a failure of the endpoint, not a cancellation by the caller
	}
	end := b.clock.Now().UnixNano()
	permit.Done(err)
	e.record(err, end, time.Duration(end-a.now))
	a.now = end
	return err
}

// attempt is the state of one Do, pooled.
type attempt struct {
	tried   []*Endpoint
	now     int64 // unix ns, for ejection checks
	exclude func(*Endpoint) bool
}

func (b *Balancer) getAttempt() *attempt {
	a := b.attempts.Get().(*attempt)
	a.tried = a.tried[:0]
	a.now = b.clock.Now().UnixNano()
	return a
}

func (a *attempt) wasTried(e *Endpoint) bool {
	return slices.Contains(a.tried, e)
}

func (a *attempt) excludeUnhealthy(e *Endpoint) bool {
	return !e.healthy(a.now) || a.wasTried(e)
}

// leastRecentlyFailed is the fail-open choice among the endpoints not tried yet.
func (a *attempt) leastRecentlyFailed(eps []*Endpoint) *Endpoint {
	var best *Endpoint
	var bestT int64
	for _, e := range eps {
		if a.wasTried(e) {
			continue
		}
		if t := e.lastFailure.Load(); best == nil || t < bestT {
			best, bestT = e, t
		}
	}
	return best
}
