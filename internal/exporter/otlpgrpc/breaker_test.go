package otlpgrpc_test

import (
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

// TestBreakerOpensAndRecovers is the fault-injection path of the resilience policies on a real
// exporter: an upstream that keeps answering UNAVAILABLE trips the endpoint's circuit breaker
// (attempts stop reaching it), the breaker lets a trial through after its recovery timeout, the
// upstream has recovered, and every span accepted into the retry path arrives.
func TestBreakerOpensAndRecovers(t *testing.T) {
	flaky := testutil.NewFlakyServer(t)
	const failures = 6
	script := make([]testutil.Behavior, failures)
	for i := range script {
		script[i] = testutil.Unavailable(0)
	}
	flaky.Script(script...)
	flaky.SetDefault(testutil.Accept())

	cfg := balancedConfig(lb.PolicyRoundRobin, flaky.GRPCAddr)
	cfg.Retry.InitialInterval, cfg.Retry.MaxInterval = 5*time.Millisecond, 10*time.Millisecond
	cfg.Balancer.CircuitBreaker.FailureThreshold = 3
	cfg.Balancer.CircuitBreaker.RecoveryTimeout = 300 * time.Millisecond
	cfg.Balancer.Health.MaxFails = 1000 // leave the tripping to the breaker
	h := start(t, cfg)

	const batches, per = 5, 20
	for i := range batches {
		if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, per, i*per))); err != nil {
			t.Fatal(err)
		}
	}
	// The breaker must open: observe the endpoint's state while the upstream still fails.
	sawOpen := false
	deadline := time.Now().Add(10 * time.Second)
	for !sawOpen && time.Now().Before(deadline) {
		for _, ep := range h.exp.Endpoints() {
			sawOpen = sawOpen || ep.Breaker == resilience.StateOpen
		}
		if !sawOpen {
			time.Sleep(time.Millisecond) // observing another goroutine's state; nothing to wait on
		}
	}
	if !sawOpen {
		t.Fatal("the circuit breaker never opened while every attempt failed")
	}
	shutdown(t, h) // drains: delivery resumes once the breaker lets its trial through
	if got := flaky.AcceptedItems(); got < batches*per {
		t.Fatalf("upstream accepted %d of %d spans", got, batches*per)
	}
	reqs := flaky.Requests()
	if len(reqs) > failures+batches+3 {
		t.Errorf("%d requests reached the upstream: the open breaker should have held attempts back", len(reqs))
	}
	for _, ep := range h.exp.Endpoints() {
		if ep.Breaker != resilience.StateClosed {
			t.Errorf("breaker of %s ends %v, want closed after the upstream recovered", ep.Address, ep.Breaker)
		}
	}
	if got := h.counter(t, "otlp_dropped_spans_total"); got != 0 {
		t.Errorf("%v spans dropped", got)
	}
}
