package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
	"github.com/otlp-dev/otlp/resilience/resiliencetest"
)

var errDown = errors.New("connection refused")

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newTestBalancer builds a balancer over n static endpoints on a fake clock. mod adjusts the
// config: by default passive health ejects after 1 failure for 5s (doubling up to 40s) and
// the breaker is disabled.
func newTestBalancer(t *testing.T, n int, mod func(*Config)) (*Balancer, *resiliencetest.FakeClock) {
	t.Helper()
	cfg := NewDefaultConfig()
	for i := range n {
		cfg.Endpoints = append(cfg.Endpoints, EndpointSpec{Address: fmt.Sprintf("10.0.0.%d:4317", i+1)})
	}
	cfg.Health.MaxFails = 1
	cfg.Health.EjectDuration = 5 * time.Second
	cfg.Health.MaxEjectDuration = 40 * time.Second
	cfg.CircuitBreaker.Disabled = true
	if mod != nil {
		mod(&cfg)
	}
	clock := resiliencetest.NewFakeClock(t0)
	b, err := New(cfg, Settings{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	return b, clock
}

// fakeCollectors answers calls by address: an address in down fails with errDown. It records
// the order of calls.
type fakeCollectors struct {
	mu    sync.Mutex
	down  map[string]error // guarded by mu
	calls []string         // guarded by mu
}

func newFakeCollectors() *fakeCollectors { return &fakeCollectors{down: map[string]error{}} }

func (f *fakeCollectors) set(addr string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.down, addr)
	} else {
		f.down[addr] = err
	}
}

func (f *fakeCollectors) call(_ context.Context, e *Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, e.Address())
	return f.down[e.Address()]
}

// take returns and forgets the calls made so far.
func (f *fakeCollectors) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func statusOf(t *testing.T, b *Balancer, addr string) EndpointStatus {
	t.Helper()
	for _, s := range b.Endpoints() {
		if s.Address == addr {
			return s
		}
	}
	t.Fatalf("no endpoint %s", addr)
	return EndpointStatus{}
}

func TestFailoverToNextAndBack(t *testing.T) {
	b, clock := newTestBalancer(t, 5, func(c *Config) { c.Policy = PolicyConsistentHash })
	ctx := context.Background()
	key := []byte("trace-0001")
	owner := b.Pick(key).Address()
	f := newFakeCollectors()

	if err := b.Do(ctx, key, f.call); err != nil {
		t.Fatal(err)
	}
	if got := f.take(); !slices.Equal(got, []string{owner}) {
		t.Fatalf("healthy: calls %v, want [%s]", got, owner)
	}

	// The owner fails: the batch goes to the next-highest endpoint in the same Do.
	f.set(owner, errDown)
	if err := b.Do(ctx, key, f.call); err != nil {
		t.Fatalf("failover: %v", err)
	}
	got := f.take()
	if len(got) != 2 || got[0] != owner {
		t.Fatalf("failover: calls %v, want [%s, next]", got, owner)
	}
	second := got[1]
	// The owner is ejected: the trace now goes straight to the same second choice.
	if err := b.Do(ctx, key, f.call); err != nil {
		t.Fatal(err)
	}
	if got := f.take(); !slices.Equal(got, []string{second}) {
		t.Fatalf("while ejected: calls %v, want [%s]", got, second)
	}

	// The owner recovers and its ejection ends: the trace returns to it.
	f.set(owner, nil)
	clock.Advance(5 * time.Second)
	if err := b.Do(ctx, key, f.call); err != nil {
		t.Fatal(err)
	}
	if got := f.take(); !slices.Equal(got, []string{owner}) {
		t.Fatalf("after recovery: calls %v, want [%s]", got, owner)
	}
}

func TestPassiveEjection(t *testing.T) {
	h := &passive{maxFails: 3, window: 10 * time.Second, eject: 5 * time.Second, maxEje: 30 * time.Second}
	e, err := newEndpoint(EndpointSpec{Address: "a:1"}, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.UnixNano()
	at := func(d time.Duration) int64 { return now + int64(d) }
	fail := func(d time.Duration) { e.record(errDown, at(d), 0) }
	wantEjectedFor := func(d, from time.Duration) {
		t.Helper()
		if !e.healthy(at(from+d-1)) && e.healthy(at(from+d)) {
			return
		}
		t.Fatalf("at %v: want ejected until %v, ejectedUntil = %v", from, from+d,
			time.Duration(e.ejectedUntil.Load()-now))
	}

	// Failures spread wider than the window do not eject.
	fail(0)
	fail(6 * time.Second)
	fail(11 * time.Second)
	if !e.healthy(at(11 * time.Second)) {
		t.Fatal("ejected by failures outside fail_window")
	}
	// Three within the window do, for eject_duration.
	fail(12 * time.Second)
	wantEjectedFor(5*time.Second, 12*time.Second)

	// Ejected again without a success in between: twice as long each time, up to the cap.
	base := 20 * time.Second
	for _, d := range []time.Duration{10, 20, 30, 30} {
		fail(base)
		fail(base)
		fail(base)
		wantEjectedFor(d*time.Second, base)
		base += d*time.Second + time.Second
	}
	// Errors that are not failures leave the count alone; a success resets the doubling.
	e.record(context.Canceled, at(base), 0)
	e.record(resilience.Permanent(errDown), at(base), 0)
	fail(base)
	fail(base)
	if !e.healthy(at(base)) {
		t.Fatal("canceled or permanent errors counted as failures")
	}
	fail(base)
	wantEjectedFor(5*time.Second, base)
	// A success of a call that started before the ejection does not end it; one made during
	// it (fail-open) does.
	e.record(nil, at(base+time.Second), 2*time.Second)
	if e.healthy(at(base + time.Second)) {
		t.Fatal("ejection ended by a call that started before it")
	}
	e.record(nil, at(base+2*time.Second), time.Second)
	if !e.healthy(at(base + 2*time.Second)) {
		t.Fatal("still ejected after a call made during the ejection succeeded")
	}
	if got := e.ejections.Load(); got != 6 {
		t.Errorf("ejections = %d, want 6", got)
	}
}

func TestBreakerPerEndpoint(t *testing.T) {
	b, clock := newTestBalancer(t, 2, func(c *Config) {
		c.Health.MaxFails = 0 // breakers only
		c.CircuitBreaker = resilience.NewDefaultBreakerConfig()
		c.CircuitBreaker.FailureThreshold = 2
		c.CircuitBreaker.FailureRate = 0
		c.CircuitBreaker.RecoveryTimeout = 10 * time.Second
	})
	ctx := context.Background()
	a, other := "10.0.0.1:4317", "10.0.0.2:4317"
	f := newFakeCollectors()
	f.set(a, errDown)
	for range 10 {
		if err := b.Do(ctx, nil, f.call); err != nil {
			t.Fatal(err)
		}
	}
	calls := f.take()
	if n := countOf(calls, a); n != 2 {
		t.Errorf("calls to the failing endpoint = %d, want 2 (then its breaker opens): %v", n, calls)
	}
	if s := statusOf(t, b, a); s.Breaker != resilience.StateOpen || s.Healthy {
		t.Errorf("failing endpoint: breaker %v healthy %v, want open and unhealthy", s.Breaker, s.Healthy)
	}
	if s := statusOf(t, b, other); s.Breaker != resilience.StateClosed || !s.Healthy {
		t.Errorf("other endpoint: breaker %v healthy %v, want closed and healthy", s.Breaker, s.Healthy)
	}

	// After recovery_timeout one trial reaches the endpoint; it is back, so the breaker closes.
	f.set(a, nil)
	clock.Advance(10 * time.Second)
	for range 4 {
		if err := b.Do(ctx, nil, f.call); err != nil {
			t.Fatal(err)
		}
	}
	if n := countOf(f.take(), a); n != 2 {
		t.Errorf("after recovery: %d calls of 4 to the recovered endpoint, want 2", n)
	}
	if s := statusOf(t, b, a); s.Breaker != resilience.StateClosed {
		t.Errorf("recovered endpoint: breaker %v, want closed", s.Breaker)
	}
}

func TestBreakerTrialTimeout(t *testing.T) {
	b, clock := newTestBalancer(t, 2, func(c *Config) {
		c.Health.MaxFails = 0
		c.CircuitBreaker = resilience.NewDefaultBreakerConfig()
		c.CircuitBreaker.FailureThreshold = 1
		c.CircuitBreaker.RecoveryTimeout = 10 * time.Second
		c.CircuitBreaker.TrialTimeout = 2 * time.Second
	})
	a := "10.0.0.1:4317"
	f := newFakeCollectors()
	f.set(a, errDown)
	ctx := context.Background()
	// Round robin: a first, fails, its breaker opens, b takes the call.
	if err := b.Do(ctx, nil, f.call); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)

	// The next call is a's trial; it hangs until the trial deadline cancels it.
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- b.Do(ctx, nil, func(ctx context.Context, e *Endpoint) error {
			if e.Address() != a {
				return nil
			}
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	<-started
	clock.Advance(2 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Do after a hung trial: %v, want failover to succeed", err)
	}
	if s := statusOf(t, b, a); s.Breaker != resilience.StateOpen || s.Failures != 2 {
		t.Errorf("after the hung trial: breaker %v failures %d, want open and 2", s.Breaker, s.Failures)
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestAllBreakersOpenIsThrottled(t *testing.T) {
	b, _ := newTestBalancer(t, 2, func(c *Config) {
		c.Health.MaxFails = 0
		c.CircuitBreaker = resilience.NewDefaultBreakerConfig()
		c.CircuitBreaker.FailureThreshold = 1
		c.CircuitBreaker.RecoveryTimeout = 10 * time.Second
	})
	f := newFakeCollectors()
	f.set("10.0.0.1:4317", errDown)
	f.set("10.0.0.2:4317", errDown)
	ctx := context.Background()
	if err := b.Do(ctx, nil, f.call); !errors.Is(err, ErrAllFailed) || !errors.Is(err, errDown) {
		t.Fatalf("all failing: %v, want ErrAllFailed wrapping errDown", err)
	}
	err := b.Do(ctx, nil, f.call)
	if n := len(f.take()); n != 2 {
		t.Errorf("calls = %d, want 2 (then none while open)", n)
	}
	if !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("all open: %v, want resilience.ErrOpen", err)
	}
	if d, ok := resilience.RetryAfter(err); !ok || d != 10*time.Second {
		t.Errorf("RetryAfter = %v, %v; want 10s", d, ok)
	}
	if resilience.IsPermanent(err) {
		t.Error("all open is permanent; want retryable")
	}
}

func TestFailOpen(t *testing.T) {
	b, clock := newTestBalancer(t, 3, nil)
	ctx := context.Background()
	f := newFakeCollectors()
	addrs := []string{"10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"}
	byAddr := map[string]*Endpoint{}
	for _, e := range b.snap.Load().eps {
		byAddr[e.addr] = e
	}
	// Each endpoint fails at a different time, and is ejected.
	for _, a := range []string{addrs[1], addrs[2], addrs[0]} {
		byAddr[a].record(errDown, clock.Now().UnixNano(), 0)
		clock.Advance(time.Second)
	}
	for _, a := range addrs {
		if s := statusOf(t, b, a); s.Healthy {
			t.Fatalf("%s healthy, want every endpoint ejected", a)
		}
	}
	// Nothing is healthy: the call is still made, to the least recently failed first.
	f.set(addrs[1], errDown)
	f.set(addrs[0], errDown)
	if err := b.Do(ctx, nil, f.call); err != nil {
		t.Fatalf("fail-open: %v", err)
	}
	if got, want := f.take(), []string{addrs[1], addrs[2]}; !slices.Equal(got, want) {
		t.Errorf("fail-open order = %v, want %v (least recently failed first)", got, want)
	}
	// The endpoint that answered is back in rotation; the others stay ejected.
	for range 3 {
		if err := b.Do(ctx, nil, f.call); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := f.take(), []string{addrs[2], addrs[2], addrs[2]}; !slices.Equal(got, want) {
		t.Errorf("after fail-open: calls %v, want %v", got, want)
	}
}

func TestAllFailTriesEachOnce(t *testing.T) {
	b, _ := newTestBalancer(t, 4, nil)
	f := newFakeCollectors()
	for i := range 4 {
		f.set(fmt.Sprintf("10.0.0.%d:4317", i+1), resilience.Throttled(errDown, 3*time.Second))
	}
	err := b.Do(context.Background(), nil, f.call)
	if !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err = %v, want ErrAllFailed", err)
	}
	if d, ok := resilience.RetryAfter(err); !ok || d != 3*time.Second {
		t.Errorf("RetryAfter = %v, %v; want the servers' 3s", d, ok)
	}
	calls := f.take()
	slices.Sort(calls)
	if len(slices.Compact(calls)) != 4 || len(f.take()) != 0 {
		t.Errorf("calls %v, want each of the 4 endpoints once", calls)
	}
}

func TestNoFailover(t *testing.T) {
	tests := []struct {
		name string
		err  func(cancel context.CancelFunc) error
		is   error
	}{
		{"permanent", func(context.CancelFunc) error { return resilience.Permanent(errDown) }, errDown},
		{"canceled", func(cancel context.CancelFunc) error { cancel(); return context.Canceled }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBalancer(t, 3, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			err := b.Do(ctx, nil, func(context.Context, *Endpoint) error {
				calls++
				return tt.err(cancel)
			})
			if !errors.Is(err, tt.is) || calls != 1 {
				t.Errorf("err = %v after %d calls, want %v after 1", err, calls, tt.is)
			}
			for _, s := range b.Endpoints() {
				if !s.Healthy || s.Failures != 0 {
					t.Errorf("%s: healthy %v failures %d; the error counted against it", s.Address, s.Healthy, s.Failures)
				}
			}
		})
	}
}

func TestNoEndpoints(t *testing.T) {
	cfg := NewDefaultConfig()
	b, err := New(cfg, Settings{Resolver: resolverFunc(func(context.Context) ([]EndpointSpec, error) {
		return nil, errors.New("nxdomain")
	})})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Do(context.Background(), nil, func(context.Context, *Endpoint) error { return nil })
	if !errors.Is(err, ErrNoEndpoints) || resilience.IsPermanent(err) {
		t.Errorf("err = %v, want retryable ErrNoEndpoints", err)
	}
	if _, ok := resilience.RetryAfter(err); !ok {
		t.Error("no delay suggested")
	}
	if b.Pick([]byte("k")) != nil {
		t.Error("Pick with no endpoints is not nil")
	}
}

type resolverFunc func(context.Context) ([]EndpointSpec, error)

func (f resolverFunc) Resolve(ctx context.Context) ([]EndpointSpec, error) { return f(ctx) }

func TestUpdateKeepsSurvivors(t *testing.T) {
	b, _ := newTestBalancer(t, 3, nil)
	var updates [][2][]string
	b.onUpdate = func(added, removed []string) { updates = append(updates, [2][]string{added, removed}) }
	before := map[string]*Endpoint{}
	for _, e := range b.snap.Load().eps {
		before[e.addr] = e
	}
	before["10.0.0.2:4317"].record(errDown, t0.UnixNano(), time.Millisecond)

	err := b.Update([]EndpointSpec{
		{Address: "10.0.0.4:4317"},
		{Address: "10.0.0.2:4317", Weight: 3},
		{Address: "10.0.0.1:4317"},
		{Address: "10.0.0.4:4317", Weight: 9}, // duplicate: the first wins
	})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, e := range b.snap.Load().eps {
		addrs = append(addrs, e.addr)
		if old, ok := before[e.addr]; ok && old != e {
			t.Errorf("%s: a new Endpoint replaced the surviving one", e.addr)
		}
	}
	if want := []string{"10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.4:4317"}; !slices.Equal(addrs, want) {
		t.Errorf("endpoints %v, want %v", addrs, want)
	}
	s := statusOf(t, b, "10.0.0.2:4317")
	if s.Failures != 1 || s.Healthy || s.Weight != 3 {
		t.Errorf("survivor lost its state: %+v", s)
	}
	if s := statusOf(t, b, "10.0.0.4:4317"); s.Weight != 1 {
		t.Errorf("duplicate: weight %d, want the first entry's 1", s.Weight)
	}
	want := [][2][]string{{{"10.0.0.4:4317"}, {"10.0.0.3:4317"}}}
	if fmt.Sprint(updates) != fmt.Sprint(want) {
		t.Errorf("OnUpdate got %v, want %v", updates, want)
	}
	if err := b.Update(nil); !errors.Is(err, ErrNoEndpoints) {
		t.Errorf("Update(nil) = %v, want ErrNoEndpoints", err)
	}
	if err := b.Update([]EndpointSpec{{Address: "nohost"}}); err == nil {
		t.Error("Update accepted an address without a port")
	}
	if len(b.Endpoints()) != 3 {
		t.Error("a refused update changed the set")
	}
}

func TestConcurrentDo(t *testing.T) {
	for _, policy := range []string{PolicyRoundRobin, PolicyWeightedRoundRobin, PolicyLeastInFlight, PolicyConsistentHash} {
		t.Run(policy, func(t *testing.T) {
			b, clock := newTestBalancer(t, 4, func(c *Config) {
				c.Policy = policy
				c.Health.MaxFails = 2
				c.Health.FailWindow = time.Second
				c.CircuitBreaker = resilience.NewDefaultBreakerConfig()
			})
			const workers, calls = 8, 300
			var ok, failed atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(w), 7))
					key := make([]byte, 16)
					for range calls {
						for i := range key {
							key[i] = byte(r.Uint32())
						}
						err := b.Do(context.Background(), key, func(_ context.Context, e *Endpoint) error {
							if r.IntN(10) == 0 {
								return errDown
							}
							return nil
						})
						if err == nil {
							ok.Add(1)
						} else {
							failed.Add(1)
						}
					}
				})
			}
			wg.Go(func() {
				for i := range 50 {
					specs := []EndpointSpec{{Address: "10.0.0.1:4317"}, {Address: fmt.Sprintf("10.0.1.%d:4317", i%5), Weight: i%3 + 1}}
					if i%2 == 0 {
						specs = append(specs, EndpointSpec{Address: "10.0.0.3:4317"})
					}
					if err := b.Update(specs); err != nil {
						t.Error(err)
					}
					clock.Advance(100 * time.Millisecond)
					_ = b.Endpoints()
				}
			})
			wg.Wait()
			if got := ok.Load() + failed.Load(); got != workers*calls {
				t.Errorf("%d results, want %d", got, workers*calls)
			}
			if ok.Load() < workers*calls*9/10 {
				t.Errorf("only %d of %d calls succeeded with failover", ok.Load(), workers*calls)
			}
			for _, s := range b.Endpoints() {
				if s.InFlight != 0 {
					t.Errorf("%s: %d in flight after all calls returned", s.Address, s.InFlight)
				}
			}
		})
	}
}

// The breaker's WARN line names the error that opened it, not only the rule.
func TestBreakerLogNamesTheCause(t *testing.T) {
	var buf testutil.LogBuffer
	cfg := NewDefaultConfig()
	cfg.Endpoints = []EndpointSpec{{Address: "10.0.0.1:4317"}}
	cfg.Health.MaxFails = 0
	cfg.CircuitBreaker = resilience.NewDefaultBreakerConfig()
	cfg.CircuitBreaker.FailureThreshold = 2
	cfg.CircuitBreaker.FailureRate = 0
	b, err := New(cfg, Settings{Clock: resiliencetest.NewFakeClock(t0), Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())
	f := newFakeCollectors()
	f.set("10.0.0.1:4317", errors.New("tls: first record does not look like a TLS handshake"))
	for range 2 {
		_ = b.Do(context.Background(), nil, f.call)
	}
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "to=open") ||
		!strings.Contains(out, `error="tls: first record does not look like a TLS handshake"`) {
		t.Fatalf("breaker log:\n%s\nwant a WARN line to=open with the error that tripped it", out)
	}
}

// TestDefaultPolicyAvoidsAStalledEndpoint: a collector whose calls hang (a dropped route)
// gets one call under the default policy, while the other takes the rest. Round robin gave
// it every other call until its timeouts ejected it; each was resent, and duplicated once the
// route came back.
func TestDefaultPolicyAvoidsAStalledEndpoint(t *testing.T) {
	b, _ := newTestBalancer(t, 2, nil)
	stalled := "10.0.0.2:4317"
	release := make(chan struct{})
	entered := make(chan string)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(release)
	calls := map[string]int{}
	for i := range 20 {
		done := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			done <- b.Do(context.Background(), nil, func(ctx context.Context, e *Endpoint) error {
				entered <- e.Address()
				if e.Address() == stalled {
					<-release
				}
				return nil
			})
		}()
		addr := <-entered
		calls[addr]++
		if addr != stalled {
			if err := <-done; err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
	}
	if calls[stalled] != 1 {
		t.Errorf("the stalled endpoint got %d of 20 calls, want 1 (calls %v)", calls[stalled], calls)
	}
}
