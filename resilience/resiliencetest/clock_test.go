package resiliencetest_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/resilience/resiliencetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFakeClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := resiliencetest.NewFakeClock(start)
	var order []string
	t2 := c.NewTimer(2 * time.Second)
	c.AfterFunc(time.Second, func() {
		order = append(order, "func@"+c.Now().Sub(start).String())
		c.AfterFunc(500*time.Millisecond, func() { order = append(order, "nested@"+c.Now().Sub(start).String()) })
	})
	stopped := c.NewTimer(time.Second)
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should report true once")
	}
	if c.Timers() != 2 {
		t.Fatalf("timers = %d", c.Timers())
	}
	c.Advance(1999 * time.Millisecond)
	select {
	case <-t2.C():
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Millisecond)
	if at := <-t2.C(); !at.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("fired at %v", at)
	}
	if got := []string{"func@1s", "nested@1.5s"}; len(order) != 2 || order[0] != got[0] || order[1] != got[1] {
		t.Fatalf("order = %v", order)
	}
	if c.Timers() != 0 || !c.Now().Equal(start.Add(2*time.Second)) {
		t.Fatalf("timers %d, now %v", c.Timers(), c.Now())
	}
	if now := <-c.NewTimer(0).C(); !now.Equal(c.Now()) {
		t.Fatal("a zero timer should fire at once")
	}
}
