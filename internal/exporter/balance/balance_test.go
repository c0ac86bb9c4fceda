package balance_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/exporter/balance"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClient records what it receives and answers with fail (nil: success).
type fakeClient struct {
	addr string

	mu     sync.Mutex
	fail   error                     // guarded by mu
	traces map[pcommon.TraceID]int   // guarded by mu; spans by trace id
	items  int                       // guarded by mu
	closed bool                      // guarded by mu
	block  chan struct{}             // guarded by mu; when set, Consume waits for it
	seen   func(ctx context.Context) // called at the start of Consume, when set
}

func (c *fakeClient) Consume(ctx context.Context, b pipeline.Batch) error {
	c.mu.Lock()
	fail, block, seen := c.fail, c.block, c.seen
	c.mu.Unlock()
	if seen != nil {
		seen(ctx)
	}
	if block != nil {
		<-block
	}
	if fail != nil {
		return fail
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items += b.Items
	if b.Signal == pipeline.SignalTraces {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(b.Body); err != nil {
			return resilience.Permanent(err)
		}
		for _, rs := range req.Traces().ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					c.traces[sp.TraceID()]++
				}
			}
		}
	}
	return nil
}

func (c *fakeClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *fakeClient) setFail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

func (c *fakeClient) snapshot() (items int, traces map[pcommon.TraceID]int, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := make(map[pcommon.TraceID]int, len(c.traces))
	for k, v := range c.traces {
		cp[k] = v
	}
	return c.items, cp, c.closed
}

// fleet makes the fake clients of a router and remembers them by address.
type fleet struct {
	mu      sync.Mutex
	clients map[string]*fakeClient // guarded by mu
	made    []string               // guarded by mu; every Dial, in order
}

func newFleet() *fleet { return &fleet{clients: map[string]*fakeClient{}} }

func (f *fleet) dial(addr string) (balance.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &fakeClient{addr: addr, traces: map[pcommon.TraceID]int{}}
	f.clients[addr] = c
	f.made = append(f.made, addr)
	return c, nil
}

func (f *fleet) get(addr string) *fakeClient {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clients[addr]
}

func lbConfig(policy string, addrs ...string) lb.Config {
	cfg := lb.NewDefaultConfig()
	cfg.Policy = policy
	for _, a := range addrs {
		cfg.Endpoints = append(cfg.Endpoints, lb.EndpointSpec{Address: a})
	}
	return cfg
}

func newRouter(t *testing.T, cfg lb.Config, f *fleet) *balance.Router {
	t.Helper()
	r, err := balance.New(cfg, balance.Settings{Name: "otlp/test", Dial: f.dial, Metrics: selftel.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return r
}

var addrs = []string{"a:4317", "b:4317", "c:4317"}

// TestConsistentHashKeepsTracesTogether: every span of a trace reaches one endpoint, across
// batches, and the traces spread over every endpoint.
func TestConsistentHashKeepsTracesTogether(t *testing.T) {
	f := newFleet()
	r := newRouter(t, lbConfig(lb.PolicyConsistentHash, addrs...), f)
	total := 0
	for i := range 20 {
		td := testutil.Traces(3, 40, i*7) // overlapping ranges: one trace spans several batches
		total += td.SpanCount()
		if err := r.Consume(t.Context(), testutil.TracesBatch(td)); err != nil {
			t.Fatal(err)
		}
	}
	owner := map[pcommon.TraceID]string{}
	got := 0
	for _, a := range addrs {
		items, traces, _ := f.get(a).snapshot()
		got += items
		if len(traces) == 0 {
			t.Errorf("%s got no trace: no spread", a)
		}
		for id := range traces {
			if o, ok := owner[id]; ok {
				t.Errorf("trace %x on %s and %s", id, o, a)
			}
			owner[id] = a
		}
	}
	if got != total {
		t.Errorf("%d spans arrived, %d sent", got, total)
	}
}

// TestConsistentHashPartFailsOverAlone: a failing endpoint's part goes to another endpoint;
// the other parts are not resent.
func TestConsistentHashPartFailsOverAlone(t *testing.T) {
	f := newFleet()
	cfg := lbConfig(lb.PolicyConsistentHash, addrs...)
	cfg.Health.MaxFails = 0 // keep b in the set: its part must fail over within the call
	r := newRouter(t, cfg, f)
	f.get("b:4317").setFail(errors.New("unavailable"))
	td := testutil.Traces(2, 200, 0)
	if err := r.Consume(t.Context(), testutil.TracesBatch(td)); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, a := range []string{"a:4317", "c:4317"} {
		items, traces, _ := f.get(a).snapshot()
		sum += items
		for id, n := range traces {
			if n != 8 {
				t.Errorf("trace %x: %d spans on %s, want its 8 exactly once", id, n, a)
			}
		}
	}
	if sum != 400 {
		t.Errorf("%d spans delivered, want 400 exactly once", sum)
	}
}

func TestRoundRobinSpreadsWholeBatches(t *testing.T) {
	f := newFleet()
	r := newRouter(t, lbConfig(lb.PolicyRoundRobin, addrs...), f)
	for range 9 {
		if err := r.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 10, 0))); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range addrs {
		if items, _, _ := f.get(a).snapshot(); items != 30 {
			t.Errorf("%s got %d spans, want 3 whole batches", a, items)
		}
	}
}

func TestOutcomes(t *testing.T) {
	perm := resilience.Permanent(errors.New("bad data"))
	unavailable := errors.New("unavailable")
	for _, tt := range []struct {
		name      string
		fail      map[string]error // by address
		policy    string
		permanent bool
		retryable bool
		rejected  int
	}{
		{name: "all fine", policy: lb.PolicyConsistentHash},
		{name: "one endpoint fails over", policy: lb.PolicyConsistentHash, fail: map[string]error{"a:4317": unavailable}},
		{name: "all down", policy: lb.PolicyConsistentHash, retryable: true,
			fail: map[string]error{"a:4317": unavailable, "b:4317": unavailable, "c:4317": unavailable}},
		{name: "one part refused for good", policy: lb.PolicyConsistentHash, fail: map[string]error{"b:4317": perm}, rejected: -1},
		{name: "every part refused for good", policy: lb.PolicyConsistentHash, permanent: true,
			fail: map[string]error{"a:4317": perm, "b:4317": perm, "c:4317": perm}},
		{name: "partial success", policy: lb.PolicyConsistentHash, rejected: 7,
			fail: map[string]error{"c:4317": &sender.PartialSuccess{Rejected: 7, Message: "x"}}},
		{name: "round robin partial success", policy: lb.PolicyRoundRobin, rejected: 7,
			fail: map[string]error{"a:4317": &sender.PartialSuccess{Rejected: 7}, "b:4317": &sender.PartialSuccess{Rejected: 7}, "c:4317": &sender.PartialSuccess{Rejected: 7}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet()
			cfg := lbConfig(tt.policy, addrs...)
			cfg.CircuitBreaker.Disabled = true
			r := newRouter(t, cfg, f)
			for a, err := range tt.fail {
				f.get(a).setFail(err)
			}
			err := r.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(2, 100, 0)))
			var ps *sender.PartialSuccess
			switch {
			case tt.permanent:
				if !resilience.IsPermanent(err) {
					t.Errorf("err = %v, want permanent", err)
				}
			case tt.retryable:
				if err == nil || resilience.IsPermanent(err) || !errors.Is(err, lb.ErrAllFailed) {
					t.Errorf("err = %v, want retryable, every endpoint failed", err)
				}
			case tt.rejected != 0:
				if !errors.As(err, &ps) || resilience.IsPermanent(err) {
					t.Fatalf("err = %v, want a partial success", err)
				}
				if tt.rejected > 0 && ps.Rejected != tt.rejected {
					t.Errorf("rejected %d, want %d", ps.Rejected, tt.rejected)
				}
				if tt.rejected < 0 {
					// b's part: its spans are rejected, the rest delivered.
					items, _, _ := f.get("a:4317").snapshot()
					items2, _, _ := f.get("c:4317").snapshot()
					if ps.Rejected+items+items2 != 200 || ps.Rejected == 0 {
						t.Errorf("rejected %d + delivered %d != 200", ps.Rejected, items+items2)
					}
				}
			default:
				if err != nil {
					t.Errorf("err = %v", err)
				}
			}
		})
	}
}

// TestLogsWithoutTraceIDSpread: log records without a trace id are not pinned to an endpoint.
func TestLogsWithoutTraceIDSpread(t *testing.T) {
	f := newFleet()
	r := newRouter(t, lbConfig(lb.PolicyConsistentHash, addrs...), f)
	for range 6 {
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for i := range 5 {
			lrs.AppendEmpty().Body().SetStr(fmt.Sprint(i))
		}
		body, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err := r.Consume(t.Context(), pipeline.Batch{Signal: pipeline.SignalLogs, Body: body, Items: 5}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range addrs {
		if items, _, _ := f.get(a).snapshot(); items != 10 {
			t.Errorf("%s got %d records, want 10 (keyless batches round robin)", a, items)
		}
	}
}

// TestRemovedEndpointClosedAfterItsLastAttempt: an endpoint leaving the set keeps its client
// until the attempt running on it returns; new attempts go elsewhere.
func TestRemovedEndpointClosedAfterItsLastAttempt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "endpoints")
	write := func(eps ...string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(strings.Join(eps, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("a:4317\n", "b:4317\n")
	changed := make(chan []string, 4)
	f := newFleet()
	cfg := lb.NewDefaultConfig()
	cfg.File.Path = path
	r, err := balance.New(cfg, balance.Settings{Dial: f.dial, LB: lb.Settings{OnUpdate: func(_, removed []string) {
		changed <- removed
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Shutdown(context.Background()) }()
	<-changed // the first resolution

	// Hold an attempt on whichever endpoint round robin picks first.
	inFlight, release := make(chan string, 1), make(chan struct{})
	for _, a := range []string{"a:4317", "b:4317"} {
		c := f.get(a)
		c.mu.Lock()
		c.block = release
		c.seen = func(context.Context) { inFlight <- c.addr }
		c.mu.Unlock()
	}
	done := make(chan error)
	go func() { done <- r.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 4, 0))) }()
	busy := <-inFlight
	other := "a:4317"
	if busy == other {
		other = "b:4317"
	}
	write(other + "\n")
	if removed := <-changed; !slices.Equal(removed, []string{busy}) {
		t.Fatalf("removed %v, want [%s]", removed, busy)
	}
	if _, _, closed := f.get(busy).snapshot(); closed {
		t.Fatal("client closed while an attempt runs on it")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, _, closed := f.get(busy).snapshot(); !closed {
		t.Error("client of the removed endpoint not closed after its last attempt")
	}
	c := f.get(other)
	c.mu.Lock()
	c.seen = nil
	c.mu.Unlock()
	for range 3 {
		if err := r.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 4, 0))); err != nil {
			t.Fatal(err)
		}
	}
	if items, _, _ := f.get(other).snapshot(); items != 12 {
		t.Errorf("%s got %d spans after the change, want 12", other, items)
	}
}

func TestEndpointMetrics(t *testing.T) {
	f := newFleet()
	m := selftel.New()
	r, err := balance.New(lbConfig(lb.PolicyRoundRobin, addrs...), balance.Settings{Name: "otlp/lb", Dial: f.dial, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Start(t.Context())
	_ = r.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 1, 0)))
	if v := testutil.MetricValue(t, m.Registry, "otlp_exporter_endpoint_up", "exporter", "otlp/lb"); v != 3 {
		t.Errorf("endpoints up = %v, want 3", v)
	}
	if v := testutil.MetricValue(t, m.Registry, "otlp_exporter_endpoint_attempts_total", "exporter", "otlp/lb", "outcome", "success"); v != 1 {
		t.Errorf("successful attempts = %v, want 1", v)
	}
	_ = r.Shutdown(t.Context())
	if v := testutil.MetricValue(t, m.Registry, "otlp_exporter_endpoint_up", "exporter", "otlp/lb"); v != 0 {
		t.Errorf("endpoint series still reported after shutdown: %v", v)
	}
	for _, a := range addrs {
		if _, _, closed := f.get(a).snapshot(); !closed {
			t.Errorf("%s not closed by Shutdown", a)
		}
	}
}
