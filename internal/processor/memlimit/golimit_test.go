package memlimit

import "testing"

// TestGoLimitClaims: the runtime gets the smallest live claim, and the limit from before the
// first claim once every claim is released, whatever the order.
func TestGoLimitClaims(t *testing.T) {
	runtimeLimit := int64(1 << 40)
	g := &GoLimit{set: func(v int64) int64 {
		old := runtimeLimit
		if v >= 0 {
			runtimeLimit = v
		}
		return old
	}}
	a, b, c := &Limiter{}, &Limiter{}, &Limiter{}
	g.claim(a, 400)
	g.claim(b, 300)
	if runtimeLimit != 300 {
		t.Fatalf("two claims: %d, want the smaller 300", runtimeLimit)
	}
	g.release(b)
	if runtimeLimit != 400 {
		t.Fatalf("after releasing the smaller: %d, want 400", runtimeLimit)
	}
	g.claim(c, 500) // a reload's new limiter, before the old one stops
	g.release(a)
	if runtimeLimit != 500 {
		t.Fatalf("after the old limiter stopped: %d, want the new 500", runtimeLimit)
	}
	g.release(a) // twice: no effect
	g.release(c)
	if runtimeLimit != 1<<40 {
		t.Fatalf("after the last release: %d, want the original", runtimeLimit)
	}
}
