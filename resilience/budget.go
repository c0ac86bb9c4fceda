package resilience

import (
	"sync"
	"sync/atomic"
	"time"
)

func (c BudgetConfig) enabled() bool { return c.Ratio > 0 || c.MinPerSecond > 0 }

// budget is a token bucket of retries. Calls only bump an atomic counter; tokens are settled
// under the lock when a retry asks for one, which happens only on failures.
type budget struct {
	cfg   BudgetConfig
	clock Clock
	calls atomic.Uint64

	mu        sync.Mutex
	tokens    float64   // guarded by mu
	seenCalls uint64    // guarded by mu
	last      time.Time // guarded by mu
}

func newBudget(cfg BudgetConfig, c Clock) *budget {
	// Start full so that the first failures of a fresh process may be retried.
	return &budget{cfg: cfg, clock: c, tokens: cfg.Burst, last: c.Now()}
}

func (b *budget) deposit() { b.calls.Add(1) }

func (b *budget) withdraw(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	calls := b.calls.Load()
	b.tokens += float64(calls-b.seenCalls) * b.cfg.Ratio
	b.seenCalls = calls
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens += dt.Seconds() * b.cfg.MinPerSecond
		b.last = now
	}
	b.tokens = min(b.tokens, b.cfg.Burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
