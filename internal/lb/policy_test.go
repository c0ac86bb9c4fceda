package lb

import (
	"strings"
	"testing"
)

func pickSeq(p Policy, eps []*Endpoint, n int, exclude func(*Endpoint) bool) string {
	var sb strings.Builder
	for range n {
		e := p.Pick(nil, eps, exclude)
		if e == nil {
			sb.WriteByte('-')
			continue
		}
		sb.WriteByte(byte('a' + indexOf(eps, e)))
	}
	return sb.String()
}

func indexOf(eps []*Endpoint, e *Endpoint) int {
	for i, x := range eps {
		if x == e {
			return i
		}
	}
	return -1
}

func TestRoundRobinExact(t *testing.T) {
	eps := testEndpoints(3)
	tests := []struct {
		name    string
		exclude func(*Endpoint) bool
		want    string
	}{
		{"all", nil, "abcabcabc"},
		{"b excluded", func(e *Endpoint) bool { return e == eps[1] }, "acacac"},
		{"a excluded", func(e *Endpoint) bool { return e == eps[0] }, "bcbcbc"},
		{"all excluded", func(*Endpoint) bool { return true }, "---"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &RoundRobin{}
			if got := pickSeq(p, eps, len(tt.want), tt.exclude); got != tt.want {
				t.Errorf("sequence = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWeightedRoundRobinExact(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    string // one cycle, repeated
	}{
		// nginx's smooth WRR example: interleaved, not "aaaaabc".
		{"5-1-1", []int{5, 1, 1}, "aabacaa"},
		{"equal", []int{1, 1, 1}, "abc"},
		{"3-2", []int{3, 2}, "ababa"},
		{"zero counts as one", []int{0, 2}, "bab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := testEndpoints(len(tt.weights), tt.weights...)
			p := &WeightedRoundRobin{}
			want := strings.Repeat(tt.want, 4)
			if got := pickSeq(p, eps, len(want), nil); got != want {
				t.Errorf("sequence = %q, want %q", got, want)
			}
		})
	}
}

func TestWeightedRoundRobinProportions(t *testing.T) {
	weights := []int{7, 3, 1, 5}
	eps := testEndpoints(len(weights), weights...)
	p := &WeightedRoundRobin{}
	sum := 16
	counts := make([]int, len(eps))
	for range 10 * sum {
		counts[indexOf(eps, p.Pick(nil, eps, nil))]++
	}
	for i, w := range weights {
		if counts[i] != 10*w {
			t.Errorf("endpoint %d: %d picks, want exactly %d", i, counts[i], 10*w)
		}
	}
	// Excluding one endpoint shares its turns among the others in proportion.
	exclude := func(e *Endpoint) bool { return e == eps[0] }
	clear(counts)
	for range 9 * 10 {
		counts[indexOf(eps, p.Pick(nil, eps, exclude))]++
	}
	if counts[0] != 0 || counts[1] != 30 || counts[2] != 10 || counts[3] != 50 {
		t.Errorf("with endpoint 0 excluded: counts = %v, want [0 30 10 50]", counts)
	}
}

func TestLeastInFlight(t *testing.T) {
	tests := []struct {
		name     string
		inflight []int64
		weights  []int
		exclude  int // index, -1 for none
		want     []int
	}{
		{"fewest wins", []int64{3, 1, 2}, nil, -1, []int{1}},
		{"excluded skipped", []int64{3, 1, 2}, nil, 1, []int{2}},
		{"relative to weight", []int64{4, 3, 3}, []int{4, 1, 2}, -1, []int{0}},
		{"ties spread", []int64{1, 1, 1}, nil, -1, []int{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := testEndpoints(len(tt.inflight), tt.weights...)
			for i, n := range tt.inflight {
				eps[i].inflight.Store(n)
			}
			var exclude func(*Endpoint) bool
			if tt.exclude >= 0 {
				exclude = func(e *Endpoint) bool { return e == eps[tt.exclude] }
			}
			p := &LeastInFlight{}
			seen := map[int]int{}
			for range 30 {
				seen[indexOf(eps, p.Pick(nil, eps, exclude))]++
			}
			if len(seen) != len(tt.want) {
				t.Fatalf("picked %v, want only %v", seen, tt.want)
			}
			for _, i := range tt.want {
				if seen[i] != 30/len(tt.want) {
					t.Errorf("endpoint %d picked %d times of 30, want %d (seen %v)", i, seen[i], 30/len(tt.want), seen)
				}
			}
		})
	}
}

func TestLeastInFlightFollowsLoad(t *testing.T) {
	eps := testEndpoints(3)
	p := &LeastInFlight{}
	// Calls that never finish spread one per endpoint before any gets a second.
	for round := range 4 {
		seen := map[*Endpoint]bool{}
		for range 3 {
			e := p.Pick(nil, eps, nil)
			if seen[e] {
				t.Fatalf("round %d: %s picked twice while others had fewer calls", round, e)
			}
			seen[e] = true
			e.inflight.Add(1)
		}
	}
}

func TestNewPolicy(t *testing.T) {
	for _, name := range []string{"", PolicyRoundRobin, PolicyWeightedRoundRobin, PolicyLeastInFlight, PolicyConsistentHash} {
		if p, err := NewPolicy(name); err != nil || p == nil {
			t.Errorf("NewPolicy(%q) = %v, %v", name, p, err)
		}
	}
	if _, err := NewPolicy("random"); err == nil || !strings.Contains(err.Error(), "random") {
		t.Errorf("NewPolicy(random) error = %v, want one naming it", err)
	}
}
