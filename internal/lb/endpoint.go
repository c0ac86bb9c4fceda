package lb

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/otlp-dev/otlp/resilience"
)

// EndpointSpec is an endpoint as a source lists it.
type EndpointSpec struct {
	// Address is "host:port".
	Address string `toml:"address"`
	// Weight is the endpoint's share relative to the others (0 counts as 1).
	Weight int `toml:"weight"`
}

// UnmarshalTOML accepts "host:port" or {address = "host:port", weight = 2}.
func (s *EndpointSpec) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*s = EndpointSpec{Address: v}
		return nil
	case map[string]any:
		*s = EndpointSpec{}
		for k, x := range v {
			switch k {
			case "address":
				a, ok := x.(string)
				if !ok {
					return fmt.Errorf("address: want a string, got %T", x)
				}
				s.Address = a
			case "weight":
				w, ok := x.(int64)
				if !ok || w < 0 || w > MaxWeight {
					return fmt.Errorf("weight: want an integer within [0, %d], got %v", MaxWeight, x)
				}
				s.Weight = int(w)
			default:
				return fmt.Errorf("unknown key %q (want address, weight)", k)
			}
		}
		return nil
	}
	return fmt.Errorf("want \"host:port\" or {address, weight}, got %T", v)
}

func (s EndpointSpec) weight() int64 {
	if s.Weight <= 0 {
		return 1
	}
	return int64(s.Weight)
}

func (s EndpointSpec) validate() error {
	if s.Weight < 0 || s.Weight > MaxWeight {
		return fmt.Errorf("weight must be within [0, %d], got %d", MaxWeight, s.Weight)
	}
	return validateAddress(s.Address)
}

func validateAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: missing host", addr)
	}
	for _, r := range host {
		// Host names, IPv4, and IPv6 with an optional zone.
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:%", r)) {
			return fmt.Errorf("address %q: invalid character %q in host", addr, r)
		}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q: port must be a number within [1, 65535]", addr)
	}
	return nil
}

// passive is the passive health policy shared by a balancer's endpoints.
type passive struct {
	maxFails      int
	window        time.Duration
	eject, maxEje time.Duration
}

// Endpoint is one collector and what the balancer knows of it. An Endpoint lives as long as its
// address stays in the set, across updates.
type Endpoint struct {
	addr    string
	hash    uint64              // of addr, for consistent hashing
	breaker *resilience.Breaker // nil when circuit_breaker.disabled
	health  *passive

	weight       atomic.Int64
	inflight     atomic.Int64
	activeDown   atomic.Bool  // set by the active checker
	ejectedUntil atomic.Int64 // unix ns; 0 when not ejected since the last success
	ejectedAt    atomic.Int64 // unix ns; start of the last ejection
	lastFailure  atomic.Int64 // unix ns
	lastErr      atomic.Pointer[string]
	streak       atomic.Int32 // ejections without a success in between
	latency      atomic.Int64 // EWMA of call durations, ns
	successes    atomic.Uint64
	failures     atomic.Uint64
	ejections    atomic.Uint64

	mu    sync.Mutex
	fails []int64 // guarded by mu; ring of the last maxFails failure times (unix ns)
	nfail int     // guarded by mu; failures in the ring
	next  int     // guarded by mu; ring slot of the next failure

	wrrCurrent int64 // guarded by weightedRoundRobin.mu

	stopActive context.CancelFunc // guarded by Balancer.mu; nil without an active checker
}

// newEndpoint makes the endpoint of s; cb is nil when breakers are disabled, and bopts are
// the breaker's options.
func newEndpoint(s EndpointSpec, h *passive, cb *resilience.BreakerConfig, bopts ...resilience.Option) (*Endpoint, error) {
	e := &Endpoint{addr: s.Address, hash: xxhash.Sum64String(s.Address), health: h}
	e.weight.Store(s.weight())
	if h.maxFails > 0 {
		e.fails = make([]int64, h.maxFails)
	}
	if cb != nil {
		br, err := resilience.NewBreaker(*cb, append(bopts, resilience.WithName(s.Address))...)
		if err != nil {
			return nil, err
		}
		e.breaker = br
	}
	return e, nil
}

// Address returns "host:port".
func (e *Endpoint) Address() string { return e.addr }

// Weight returns the endpoint's weight (>= 1).
func (e *Endpoint) Weight() int { return int(e.weight.Load()) }

// InFlight returns the number of calls running on the endpoint.
func (e *Endpoint) InFlight() int { return int(e.inflight.Load()) }

func (e *Endpoint) String() string { return e.addr }

// healthy reports whether the endpoint may be picked at now (unix ns): not marked down by the
// active checker, not ejected, and its breaker not open.
func (e *Endpoint) healthy(now int64) bool {
	if e.activeDown.Load() || e.ejectedUntil.Load() > now {
		return false
	}
	return e.breaker == nil || e.breaker.State() != resilience.StateOpen
}

// record accounts one finished call that took d.
func (e *Endpoint) record(err error, now int64, d time.Duration) {
	const alpha = 0.2 // weight of the newest sample in the latency average
	if old := e.latency.Load(); old == 0 {
		e.latency.Store(int64(d))
	} else {
		e.latency.Store(old + int64(alpha*float64(int64(d)-old)))
	}
	switch {
	case err == nil || resilience.IsPermanent(err):
		e.succeeded(now - int64(d)) // a permanent error is an answer: the endpoint is up, the data was bad
	case resilience.IsFailure(err):
		msg := err.Error() // only failures pay for it
		e.lastErr.Store(&msg)
		e.failed(now)
	}
}

// succeeded records a success of a call that started at start (unix ns).
func (e *Endpoint) succeeded(start int64) {
	e.successes.Add(1)
	if e.streak.Load() != 0 {
		e.streak.Store(0)
	}
	if e.ejectedUntil.Load() != 0 && start >= e.ejectedAt.Load() {
		// A call made while ejected (fail-open) answered: the endpoint is back. A call that
		// started before the ejection proves nothing about it.
		e.ejectedUntil.Store(0)
	}
}

// failed records a failure at now and ejects the endpoint once maxFails failures fall within
// the window.
func (e *Endpoint) failed(now int64) {
	e.failures.Add(1)
	e.lastFailure.Store(now)
	h := e.health
	if h.maxFails == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fails[e.next] = now
	e.next = (e.next + 1) % len(e.fails)
	e.nfail = min(e.nfail+1, len(e.fails))
	// e.next is now the oldest of the last maxFails failures.
	if e.nfail < len(e.fails) || now-e.fails[e.next] > int64(h.window) {
		return
	}
	if e.ejectedUntil.Load() > now {
		return // already ejected: a late result of a call started before
	}
	n := e.streak.Add(1)
	d := h.eject
	for i := int32(1); i < n && d < h.maxEje; i++ {
		d *= 2
	}
	d = min(d, h.maxEje)
	e.ejectedAt.Store(now)
	e.ejectedUntil.Store(now + int64(d))
	e.ejections.Add(1)
	e.nfail, e.next = 0, 0 // a returning endpoint starts with a clean slate
}

// EndpointStatus is a snapshot of an endpoint, for admin pages and tests.
type EndpointStatus struct {
	Address string
	Weight  int
	// Healthy is what the policies see: not down, not ejected, breaker not open.
	Healthy bool
	// Down is the active checker's verdict.
	Down bool
	// EjectedUntil is the end of the current passive ejection (zero if none).
	EjectedUntil time.Time
	Breaker      resilience.State
	InFlight     int
	Successes    uint64
	Failures     uint64
	Ejections    uint64
	// Latency is a moving average of call durations.
	Latency time.Duration
	// LastError and LastFailure are the most recent failed call (empty and zero if none).
	LastError   string
	LastFailure time.Time
}

func (e *Endpoint) status(now time.Time) EndpointStatus {
	s := EndpointStatus{
		Address:   e.addr,
		Weight:    e.Weight(),
		Healthy:   e.healthy(now.UnixNano()),
		Down:      e.activeDown.Load(),
		InFlight:  e.InFlight(),
		Successes: e.successes.Load(),
		Failures:  e.failures.Load(),
		Ejections: e.ejections.Load(),
		Latency:   time.Duration(e.latency.Load()),
	}
	if u := e.ejectedUntil.Load(); u > now.UnixNano() {
		s.EjectedUntil = time.Unix(0, u)
	}
	if e.breaker != nil {
		s.Breaker = e.breaker.State()
	}
	if m := e.lastErr.Load(); m != nil {
		s.LastError = *m
		s.LastFailure = time.Unix(0, e.lastFailure.Load())
	}
	return s
}
