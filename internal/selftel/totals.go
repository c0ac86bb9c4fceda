package selftel

import (
	"sync"
	"sync/atomic"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Totals is a typed snapshot of the item counters, for readers in the same process (the SDK's
// Client.Stats) that should not look metric names up in a registry.
type Totals struct {
	Exported [4]int64            // by pipeline.Signal
	Dropped  [4]map[string]int64 // by pipeline.Signal, then reason; only reasons that happened
	Retries  int64
	// Kept sums the items the durable queues kept at their last shutdown.
	Kept int64
}

// totals are the counters behind Totals, updated beside the Prometheus series.
type totals struct {
	exported [4]atomic.Int64
	dropped  [4][]atomic.Int64 // indexed like allReasons
	retries  atomic.Int64

	mu    sync.Mutex
	other [4]map[string]int64 // guarded by mu; reasons outside allReasons
	kept  map[string]int      // guarded by mu; by exporter
}

func newTotals() *totals {
	t := &totals{kept: map[string]int{}}
	for i := range t.dropped {
		t.dropped[i] = make([]atomic.Int64, len(allReasons))
		t.other[i] = map[string]int64{}
	}
	return t
}

func (t *totals) drop(sig pipeline.Signal, reason string, n int) {
	for i, r := range allReasons {
		if r == reason {
			t.dropped[sig][i].Add(int64(n))
			return
		}
	}
	t.mu.Lock()
	t.other[sig][reason] += int64(n)
	t.mu.Unlock()
}

func (t *totals) setKept(exporter string, items int) {
	t.mu.Lock()
	t.kept[exporter] = items
	t.mu.Unlock()
}

// Totals reads the counters; the zero Totals on a nil *Metrics.
func (m *Metrics) Totals() Totals {
	var out Totals
	for i := range out.Dropped {
		out.Dropped[i] = map[string]int64{}
	}
	if m == nil {
		return out
	}
	t := m.totals
	for _, sig := range pipeline.Signals {
		out.Exported[sig] = t.exported[sig].Load()
		for i, r := range allReasons {
			if v := t.dropped[sig][i].Load(); v > 0 {
				out.Dropped[sig][r] = v
			}
		}
	}
	out.Retries = t.retries.Load()
	t.mu.Lock()
	for _, sig := range pipeline.Signals {
		for r, v := range t.other[sig] {
			out.Dropped[sig][r] += v
		}
	}
	for _, k := range t.kept {
		out.Kept += int64(k)
	}
	t.mu.Unlock()
	return out
}
