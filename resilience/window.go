package resilience

import (
	"sync"
	"sync/atomic"
	"time"
)

// windowCounts are the totals of a sliding window.
type windowCounts struct {
	calls, failures, slow uint64
	latency               time.Duration // sum over calls; only time windows keep it
}

// Outcome bits stored per call in a count window.
const (
	outCall    uint32 = 1 << 0
	outFailure uint32 = 1 << 1
	outSlow    uint32 = 1 << 2
)

func outcomeOf(failed, slow bool) uint32 {
	o := outCall
	if failed {
		o |= outFailure
	}
	if slow {
		o |= outSlow
	}
	return o
}

// A count window packs its three totals into one word, 21 bits each, so that recording a call
// is one swap and at most one add. maxCountWindow keeps every total below 2^21.
const (
	fieldBits      = 21
	fieldMask      = 1<<fieldBits - 1
	maxCountWindow = 1<<20 - 1
)

func packOutcome(o uint32) uint64 {
	return uint64(o&outCall) | uint64(o&outFailure>>1)<<fieldBits | uint64(o&outSlow>>2)<<(2*fieldBits)
}

// countWindow holds the outcomes of the last len(slots) calls. It is lock-free: each record
// swaps its slot and adjusts the packed totals by exactly new-old, so the totals always equal
// the sum of the slots once concurrent records have returned.
type countWindow struct {
	next   atomic.Uint64
	counts atomic.Uint64
	slots  []atomic.Uint32
}

func newCountWindow(size int) *countWindow {
	return &countWindow{slots: make([]atomic.Uint32, size)}
}

func (w *countWindow) record(o uint32) windowCounts {
	i := w.next.Add(1) - 1
	old := w.slots[i%uint64(len(w.slots))].Swap(o)
	var c uint64
	if old == o {
		c = w.counts.Load()
	} else {
		// Modular arithmetic: the packed fields stay exact because every true total is >= 0.
		c = w.counts.Add(packOutcome(o) - packOutcome(old))
	}
	return unpackCounts(c)
}

func (w *countWindow) snapshot() windowCounts { return unpackCounts(w.counts.Load()) }

func unpackCounts(c uint64) windowCounts {
	return windowCounts{
		calls:    c & fieldMask,
		failures: c >> fieldBits & fieldMask,
		slow:     c >> (2 * fieldBits) & fieldMask,
	}
}

// timeWindow sums outcomes over the last len(buckets) bucket periods. Buckets age out one at
// a time, so the totals slide instead of resetting all at once.
type timeWindow struct {
	origin    time.Time
	bucketDur time.Duration

	mu      sync.Mutex
	buckets []windowCounts // guarded by mu
	head    int64          // guarded by mu; index of the newest bucket since origin
	total   windowCounts   // guarded by mu
}

func newTimeWindow(now time.Time, span time.Duration, buckets int) *timeWindow {
	return &timeWindow{
		origin:    now,
		bucketDur: max(span/time.Duration(buckets), 1),
		buckets:   make([]windowCounts, buckets),
	}
}

// advanceLocked drops the buckets that fell out of the window by now.
func (w *timeWindow) advanceLocked(now time.Time) {
	idx := int64(now.Sub(w.origin) / w.bucketDur)
	if idx <= w.head {
		return
	}
	n := int64(len(w.buckets))
	steps := min(idx-w.head, n)
	for k := int64(1); k <= steps; k++ {
		b := &w.buckets[(w.head+k)%n]
		w.total.calls -= b.calls
		w.total.failures -= b.failures
		w.total.slow -= b.slow
		w.total.latency -= b.latency
		*b = windowCounts{}
	}
	w.head = idx
}

func (w *timeWindow) record(now time.Time, o uint32, latency time.Duration) windowCounts {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advanceLocked(now)
	b := &w.buckets[w.head%int64(len(w.buckets))]
	add := windowCounts{calls: 1, latency: latency}
	if o&outFailure != 0 {
		add.failures = 1
	}
	if o&outSlow != 0 {
		add.slow = 1
	}
	b.calls += add.calls
	b.failures += add.failures
	b.slow += add.slow
	b.latency += add.latency
	w.total.calls += add.calls
	w.total.failures += add.failures
	w.total.slow += add.slow
	w.total.latency += add.latency
	return w.total
}

func (w *timeWindow) snapshot(now time.Time) windowCounts {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advanceLocked(now)
	return w.total
}
