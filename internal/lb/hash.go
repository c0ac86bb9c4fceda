package lb

import (
	"math"

	"github.com/cespare/xxhash/v2"
)

// ConsistentHash is rendezvous (highest random weight) hashing on a 64-bit hash of the key, the
// trace id: every call with the same key goes to the same endpoint while it is available, and
// when it is excluded, to the endpoint with the next-highest score, the same one on every
// agent. When an endpoint joins only the keys it now wins move (about 1/n of them); when one
// leaves only its keys move. Weighted endpoints use weighted rendezvous (score w / -ln(u)).
//
// A call without a key has nothing to be consistent about: it is spread round robin.
type ConsistentHash struct {
	rr RoundRobin
}

// HashKey is the 64-bit hash of a key. It is stable across processes and versions, so that
// every agent routes a trace id to the same collector.
func HashKey(key []byte) uint64 { return xxhash.Sum64(key) }

func (p *ConsistentHash) Pick(key []byte, eps []*Endpoint, exclude func(*Endpoint) bool) *Endpoint {
	if len(key) == 0 {
		return p.rr.Pick(nil, eps, exclude)
	}
	h := HashKey(key)
	if uniformWeights(eps) {
		// With equal weights the weighted score ranks like the raw one: skip the logarithms.
		var best *Endpoint
		var bestScore uint64
		for _, e := range eps {
			if excluded(exclude, e) {
				continue
			}
			if s := mix64(h ^ e.hash); best == nil || s > bestScore {
				best, bestScore = e, s
			}
		}
		return best
	}
	var best *Endpoint
	bestScore := math.Inf(-1)
	for _, e := range eps {
		if excluded(exclude, e) {
			continue
		}
		if s := weightedScore(mix64(h^e.hash), e.weight.Load()); best == nil || s > bestScore {
			best, bestScore = e, s
		}
	}
	return best
}

func uniformWeights(eps []*Endpoint) bool {
	w := eps[0].weight.Load()
	for _, e := range eps[1:] {
		if e.weight.Load() != w {
			return false
		}
	}
	return true
}

// weightedScore maps a uniform 64-bit score to w / -ln(u) with u in (0, 1): the endpoint with
// the highest value wins a share of keys proportional to w.
func weightedScore(s uint64, w int64) float64 {
	u := (float64(s>>11) + 0.5) / (1 << 53)
	return float64(w) / -math.Log(u)
}

// mix64 is the splitmix64 finalizer: every input bit flips each output bit with probability
// about 1/2, so key ^ endpoint scores are independent across endpoints.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
