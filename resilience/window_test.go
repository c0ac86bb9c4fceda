package resilience

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The packed count window must always equal a plain recount of the last n outcomes.
func TestCountWindowMatchesRecount(t *testing.T) {
	for _, size := range []int{1, 2, 7, 100} {
		w := newCountWindow(size)
		var history []uint32
		rng := rand.New(rand.NewPCG(1, uint64(size)))
		for i := range 5 * size {
			o := outcomeOf(rng.IntN(3) == 0, rng.IntN(4) == 0)
			got := w.record(o)
			history = append(history, o)
			var want windowCounts
			for _, h := range history[max(0, len(history)-size):] {
				want.calls++
				if h&outFailure != 0 {
					want.failures++
				}
				if h&outSlow != 0 {
					want.slow++
				}
			}
			if got != want {
				t.Fatalf("size %d, call %d: %+v, want %+v", size, i, got, want)
			}
		}
	}
}

func TestCountWindowLargest(t *testing.T) {
	w := newCountWindow(maxCountWindow)
	var c windowCounts
	for range maxCountWindow {
		c = w.record(outcomeOf(true, true))
	}
	if c.calls != maxCountWindow || c.failures != maxCountWindow || c.slow != maxCountWindow {
		t.Fatalf("full window of failures: %+v", c)
	}
	c = w.record(outcomeOf(false, false))
	if c.calls != maxCountWindow || c.failures != maxCountWindow-1 || c.slow != maxCountWindow-1 {
		t.Fatalf("after one success: %+v", c)
	}
}

func TestTimeWindowBoundaries(t *testing.T) {
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newTimeWindow(origin, 4*time.Second, 4) // 1s buckets
	at := func(d time.Duration) time.Time { return origin.Add(d) }
	w.record(at(0), outcomeOf(true, false), time.Second)
	w.record(at(999*time.Millisecond), outcomeOf(false, false), time.Second)
	w.record(at(time.Second), outcomeOf(true, false), 3*time.Second)
	tests := []struct {
		at    time.Duration
		calls uint64
		fails uint64
		lat   time.Duration
	}{
		{3999 * time.Millisecond, 3, 2, 5 * time.Second},
		{4 * time.Second, 1, 1, 3 * time.Second}, // bucket 0 aged out, bucket 1 stays
		{5 * time.Second, 0, 0, 0},
		{time.Hour, 0, 0, 0},
	}
	for _, tt := range tests {
		c := w.snapshot(at(tt.at))
		if c.calls != tt.calls || c.failures != tt.fails || c.latency != tt.lat {
			t.Fatalf("at %v: %+v, want %d calls %d failures %v", tt.at, c, tt.calls, tt.fails, tt.lat)
		}
	}
	// A clock before the origin does not corrupt the window.
	if c := w.record(origin.Add(-time.Hour), outcomeOf(false, false), 0); c.calls != 1 {
		t.Fatalf("%+v", c)
	}
}
