package lb

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// traceIDs returns n random 16-byte trace ids from a fixed seed.
func traceIDs(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([][]byte, n)
	for i := range ids {
		id := make([]byte, 16)
		binary.LittleEndian.PutUint64(id, r.Uint64())
		binary.LittleEndian.PutUint64(id[8:], r.Uint64())
		ids[i] = id
	}
	return ids
}

func TestConsistentHashSameTraceSameEndpoint(t *testing.T) {
	eps := testEndpoints(5)
	for _, id := range traceIDs(1000) {
		// Every span of the trace is routed on its own, by other policy instances (agents),
		// with the endpoints listed in another order: all land on one collector.
		want := (&ConsistentHash{}).Pick(id, eps, nil)
		rev := []*Endpoint{eps[4], eps[3], eps[2], eps[1], eps[0]}
		for span := range 8 {
			p := &ConsistentHash{}
			got := p.Pick(id, eps, nil)
			if span%2 == 1 {
				got = p.Pick(id, rev, nil)
			}
			if got != want {
				t.Fatalf("trace %x span %d: %s, want %s", id, span, got, want)
			}
		}
	}
}

func TestConsistentHashSpread(t *testing.T) {
	const keys = 100_000
	tests := []struct {
		name    string
		weights []int
	}{
		{"equal", []int{1, 1, 1, 1, 1}},
		{"weighted", []int{1, 2, 3, 1, 3}},
	}
	ids := traceIDs(keys)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := testEndpoints(len(tt.weights), tt.weights...)
			p := &ConsistentHash{}
			counts := map[*Endpoint]int{}
			for _, id := range ids {
				counts[p.Pick(id, eps, nil)]++
			}
			total := 0
			for _, w := range tt.weights {
				total += w
			}
			for i, e := range eps {
				want := float64(keys) * float64(tt.weights[i]) / float64(total)
				dev := math.Abs(float64(counts[e])-want) / want
				t.Logf("%s (weight %d): %d keys, %.2f%% off", e, tt.weights[i], counts[e], 100*dev)
				if dev > 0.03 {
					t.Errorf("%s: %d keys, want %.0f within 3%%", e, counts[e], want)
				}
			}
		})
	}
}

func TestConsistentHashRemapOnJoin(t *testing.T) {
	const keys = 100_000
	ids := traceIDs(keys)
	six := testEndpoints(6)
	five := six[:5]
	p := &ConsistentHash{}
	moved := 0
	for _, id := range ids {
		before, after := p.Pick(id, five, nil), p.Pick(id, six, nil)
		if before != after {
			moved++
			if after != six[5] {
				t.Fatalf("key %x moved from %s to %s, not to the new endpoint", id, before, after)
			}
		}
	}
	frac := float64(moved) / keys
	t.Logf("adding a 6th endpoint moved %.2f%% of keys (ideal %.2f%%)", 100*frac, 100.0/6)
	if math.Abs(frac-1.0/6) > 0.01 {
		t.Errorf("moved %.4f of keys, want 1/6 within 0.01", frac)
	}
}

func TestConsistentHashRemapOnLeave(t *testing.T) {
	ids := traceIDs(100_000)
	eps := testEndpoints(5)
	gone := eps[2]
	rest := []*Endpoint{eps[0], eps[1], eps[3], eps[4]}
	p := &ConsistentHash{}
	moved := 0
	for _, id := range ids {
		before, after := p.Pick(id, eps, nil), p.Pick(id, rest, nil)
		if before != gone && after != before {
			t.Fatalf("key %x of %s moved to %s though its endpoint stayed", id, before, after)
		}
		if before == gone {
			moved++
		}
	}
	t.Logf("removing one of 5 endpoints moved %d keys, only its own", moved)
}

func TestConsistentHashExclusionIsNextHighest(t *testing.T) {
	eps := testEndpoints(5)
	p := &ConsistentHash{}
	for _, id := range traceIDs(2000) {
		first := p.Pick(id, eps, nil)
		// Failing over excludes the owner: the result is where the key goes if the owner
		// leaves, so every agent fails over to the same endpoint.
		failover := p.Pick(id, eps, func(e *Endpoint) bool { return e == first })
		var without []*Endpoint
		for _, e := range eps {
			if e != first {
				without = append(without, e)
			}
		}
		if want := p.Pick(id, without, nil); failover != want {
			t.Fatalf("key %x: failover %s, want %s", id, failover, want)
		}
	}
	if e := p.Pick([]byte("x"), eps, func(*Endpoint) bool { return true }); e != nil {
		t.Errorf("all excluded: got %s, want nil", e)
	}
}

func TestConsistentHashEmptyKeyRoundRobin(t *testing.T) {
	eps := testEndpoints(3)
	p := &ConsistentHash{}
	if got := pickSeq(p, eps, 6, nil); got != "abcabc" {
		t.Errorf("empty keys: %q, want round robin abcabc", got)
	}
}

func TestHashKeyStable(t *testing.T) {
	// The hash is part of the wire contract between agents: it must never change.
	// XXH64 reference vectors (seed 0).
	for in, want := range map[string]uint64{"": 0xef46db3751d8e999, "a": 0xd24ec4f1a98c6e5b, "abc": 0x44bc2cf5ad770999} {
		if got := HashKey([]byte(in)); got != want {
			t.Errorf("HashKey(%q) = %#x, want %#x", in, got, want)
		}
	}
}
