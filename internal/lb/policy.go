package lb

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Policy chooses an endpoint for a call. eps is an immutable snapshot, never empty; exclude,
// if not nil, rules out endpoints (unhealthy, already tried). Pick returns nil when every
// endpoint is excluded. Implementations are safe for concurrent use.
type Policy interface {
	Pick(key []byte, eps []*Endpoint, exclude func(*Endpoint) bool) *Endpoint
}

// NewPolicy returns the policy of that name ("" is least_inflight, the default).
func NewPolicy(name string) (Policy, error) {
	switch name {
	case PolicyRoundRobin:
		return &RoundRobin{}, nil
	case PolicyWeightedRoundRobin:
		return &WeightedRoundRobin{}, nil
	case "", PolicyLeastInFlight:
		return &LeastInFlight{}, nil
	case PolicyConsistentHash:
		return &ConsistentHash{}, nil
	}
	return nil, fmt.Errorf("unknown policy %q (want %s, %s, %s or %s)", name,
		PolicyLeastInFlight, PolicyRoundRobin, PolicyWeightedRoundRobin, PolicyConsistentHash)
}

func excluded(exclude func(*Endpoint) bool, e *Endpoint) bool {
	return exclude != nil && exclude(e)
}

// RoundRobin takes the endpoints in turn, skipping excluded ones: the turn after a skip starts
// past the endpoint chosen, so that the skipped one's share is spread over the others instead
// of falling on its successor. It ignores weights and keys.
type RoundRobin struct {
	next atomic.Uint64
}

func (p *RoundRobin) Pick(_ []byte, eps []*Endpoint, exclude func(*Endpoint) bool) *Endpoint {
	n := uint64(len(eps))
	start := p.next.Add(1) - 1
	for i := range n {
		if e := eps[(start+i)%n]; !excluded(exclude, e) {
			if i > 0 {
				p.next.Add(i)
			}
			return e
		}
	}
	return nil
}

// WeightedRoundRobin is nginx's smooth weighted round robin: over every cycle of sum(weights)
// picks each endpoint is chosen exactly weight times, interleaved rather than in runs.
type WeightedRoundRobin struct {
	mu sync.Mutex // guards the wrrCurrent of every endpoint it is given
}

func (p *WeightedRoundRobin) Pick(_ []byte, eps []*Endpoint, exclude func(*Endpoint) bool) *Endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best *Endpoint
	var total int64
	for _, e := range eps {
		if excluded(exclude, e) {
			continue
		}
		w := e.weight.Load()
		e.wrrCurrent += w
		total += w
		if best == nil || e.wrrCurrent > best.wrrCurrent {
			best = e
		}
	}
	if best != nil {
		best.wrrCurrent -= total
	}
	return best
}

// LeastInFlight picks the endpoint with the fewest running calls relative to its weight,
// scanning from a rotating start so that ties are spread.
type LeastInFlight struct {
	next atomic.Uint64
}

func (p *LeastInFlight) Pick(_ []byte, eps []*Endpoint, exclude func(*Endpoint) bool) *Endpoint {
	n := uint64(len(eps))
	start := p.next.Add(1) - 1
	var best *Endpoint
	var bestN, bestW int64
	for i := range n {
		e := eps[(start+i)%n]
		if excluded(exclude, e) {
			continue
		}
		inflight, w := e.inflight.Load(), e.weight.Load()
		// inflight/w < bestN/bestW without division.
		if best == nil || inflight*bestW < bestN*w {
			best, bestN, bestW = e, inflight, w
		}
	}
	return best
}
