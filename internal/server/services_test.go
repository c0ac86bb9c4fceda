package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/components"
	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/server"
	"github.com/otlp-dev/otlp/internal/tap"
)

// spancountConfig configures the test's side service.
type spancountConfig struct {
	Label string `toml:"label"`
	// Stall makes it subscribe and never read.
	Stall      bool   `toml:"stall"`
	MaxBatches int    `toml:"max_batches"`
	Route      string `toml:"route"`
	Unhealthy  bool   `toml:"unhealthy"`
	// Reconfigurable makes it take a changed configuration in place.
	Reconfigurable bool `toml:"reconfigurable"`
	// RefuseReconfigure makes Reconfigure fail.
	RefuseReconfigure bool `toml:"refuse_reconfigure"`
}

func (c *spancountConfig) Validate() error {
	if c.Label == "" {
		return errors.New("label: must be set")
	}
	return nil
}

// spancount is a side service written outside the server's packages: it taps the spans the
// server receives, counts them by name and serves the counts on the admin port.
type spancount struct {
	cfg  *spancountConfig
	host component.Host

	mu       sync.Mutex
	names    map[string]int
	started  bool
	stopped  bool
	notify   chan struct{}
	sub      *tap.Subscription
	cancel   context.CancelFunc
	done     chan struct{}
	shutdown int
}

func newSpancount(set component.ServiceSettings, cfg *spancountConfig) *spancount {
	s := &spancount{cfg: cfg, host: set.Host, names: map[string]int{}, notify: make(chan struct{}, 1), done: make(chan struct{})}
	route := cfg.Route
	if route == "" {
		route = "GET /api/v1/spancount"
	}
	set.Host.Handle(route, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"label": s.cfg.Label, "names": s.names})
	}))
	set.Host.HealthCheck("reader", func(context.Context) error {
		if cfg.Unhealthy {
			return errors.New("told to be unhealthy")
		}
		return nil
	}, true)
	return s
}

func (s *spancount) Start(context.Context) error {
	sub, err := s.host.Subscribe(tap.Selector{Position: tap.Received, Signal: pipeline.SignalTraces}, tap.Options{MaxBatches: s.cfg.MaxBatches})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.started, s.sub, s.cancel = true, sub, cancel
	s.mu.Unlock()
	if s.cfg.Stall {
		close(s.done)
		return nil
	}
	go s.read(ctx, sub)
	return nil
}

func (s *spancount) read(ctx context.Context, sub *tap.Subscription) {
	defer close(s.done)
	for {
		b, err := sub.Recv(ctx)
		if err != nil {
			return
		}
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b.Body)
		b.Release()
		if err != nil {
			continue
		}
		s.mu.Lock()
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					s.names[sp.Name()]++
				}
			}
		}
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

func (s *spancount) Shutdown(context.Context) error {
	s.mu.Lock()
	s.shutdown++
	if s.stopped || !s.started {
		s.stopped = true
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	cancel := s.cancel
	s.mu.Unlock()
	cancel()
	<-s.done
	return nil
}

func (s *spancount) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.names {
		n += c
	}
	return n
}

// reconfigurable is a spancount that takes a new configuration in place.
type reconfigurable struct{ *spancount }

func (r reconfigurable) Reconfigure(_ context.Context, cfg component.Config) error {
	c := cfg.(*spancountConfig)
	if c.RefuseReconfigure {
		return errors.New("cannot take that")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg.Label = c.Label
	return nil
}

func (s *spancount) label() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Label
}

// waitTotal waits until the service counted n spans.
func (s *spancount) waitTotal(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for s.total() < n {
		select {
		case <-s.notify:
		case <-deadline:
			t.Fatalf("the service counted %d spans, want %d", s.total(), n)
		}
	}
}

// serviceFactories is the built-in list plus the spancount service and the capture exporter;
// created collects every spancount instance in order.
func serviceFactories(t testing.TB, created *[]*spancount, got **capture) component.Factories {
	t.Helper()
	var mu sync.Mutex
	f, err := component.NewFactories(append(components.List(),
		component.NewServiceFactory("spancount", func() *spancountConfig { return &spancountConfig{} },
			func(_ context.Context, set component.ServiceSettings, cfg *spancountConfig) (component.Service, error) {
				s := newSpancount(set, cfg)
				mu.Lock()
				*created = append(*created, s)
				mu.Unlock()
				if cfg.Reconfigurable {
					return reconfigurable{s}, nil
				}
				return s, nil
			}),
		component.NewExporterFactory("capture", []pipeline.Signal{pipeline.SignalTraces},
			func() *captureConfig { return &captureConfig{} },
			func(_ context.Context, _ component.Settings, cfg *captureConfig) (component.Exporter, error) {
				*got = &capture{label: cfg.Label}
				return *got, nil
			}))...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const serviceBase = `
[admin]
endpoint = "127.0.0.1:0"
[receivers.otlp.grpc]
endpoint = "127.0.0.1:0"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[exporters.capture]
label = "out"
[pipelines.traces]
receivers = ["otlp"]
exporters = ["capture"]
`

func parseWith(t testing.TB, f component.Factories, file string) *config.Config {
	t.Helper()
	cfg, err := config.ParseWith(f, config.ProfileServer, []byte(file), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sendSpans sends one export request per name to the server's gRPC receiver with the SDK.
func sendSpans(t *testing.T, s *server.Server, names ...string) {
	t.Helper()
	ctx := context.Background()
	grpcAddr, _ := s.ReceiverAddrs("otlp")
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr.String()), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	for _, n := range names {
		_, sp := tp.Tracer("svc").Start(ctx, n)
		sp.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func adminGet(t *testing.T, s *server.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.AdminAddr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A side service from a test package: configured by its own top-level table, it taps what the
// receiver accepted, serves a route on the admin port, adds a /ready check and is kept, restarted
// or stopped by a reload as its table stays, changes or goes.
func TestSideServiceEndToEnd(t *testing.T) {
	var created []*spancount
	var got *capture
	f := serviceFactories(t, &created, &got)
	s, err := server.New(parseWith(t, f, serviceBase+"[spancount]\nlabel = \"one\"\n"), server.Settings{Factories: f})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(ctx)
	if len(created) != 1 || !created[0].started {
		t.Fatalf("%d services created; want one, started", len(created))
	}
	first := created[0]
	sendSpans(t, s, "a", "b", "a")
	first.waitTotal(t, 3)
	if n := len(got.seen()); n != 3 {
		t.Fatalf("the exporter got %d spans, want 3", n)
	}
	if code, body := adminGet(t, s, "/api/v1/spancount"); code != 200 || !strings.Contains(body, `"names":{"a":2,"b":1}`) || !strings.Contains(body, `"label":"one"`) {
		t.Fatalf("route: %d %s", code, body)
	}
	if _, body := adminGet(t, s, "/ready"); !strings.Contains(body, `"name":"service/spancount/reader","ok":true`) {
		t.Fatalf("/ready lacks the service's check: %s", body)
	}
	if _, body := adminGet(t, s, "/metrics"); !strings.Contains(body, `otlp_tap_items_total{outcome="delivered",position="received",subscriber="spancount"} 3`) {
		t.Fatalf("/metrics lacks the tap's count:\n%s", grepLines(body, "otlp_tap_"))
	}

	// Unchanged: the same instance keeps running.
	if err := s.Reload(ctx, parseWith(t, f, serviceBase+"[spancount]\nlabel = \"one\"\n# comment\n")); err != nil {
		t.Fatal(err)
	}
	if len(created) != 1 || first.shutdown != 0 {
		t.Fatalf("an unchanged service was replaced: %d created, first shut down %d times", len(created), first.shutdown)
	}
	// Changed: stopped, and a new one (which starts from nothing) serves the route.
	if err := s.Reload(ctx, parseWith(t, f, serviceBase+"[spancount]\nlabel = \"two\"\nunhealthy = true\n")); err != nil {
		t.Fatal(err)
	}
	if len(created) != 2 || first.shutdown != 1 || !created[1].started {
		t.Fatalf("a changed service: %d created, first shut down %d times", len(created), first.shutdown)
	}
	sendSpans(t, s, "c")
	created[1].waitTotal(t, 1)
	if first.total() != 3 {
		t.Fatalf("the stopped service still counts: %d", first.total())
	}
	if _, body := adminGet(t, s, "/api/v1/spancount"); !strings.Contains(body, `"label":"two"`) || !strings.Contains(body, `"names":{"c":1}`) {
		t.Fatalf("route after the change: %s", body)
	}
	if code, body := adminGet(t, s, "/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "told to be unhealthy") {
		t.Fatalf("a failing critical service check: %d %s", code, body)
	}
	// Counts survive the replacement: the metric never goes down.
	if _, body := adminGet(t, s, "/metrics"); !strings.Contains(body, `otlp_tap_items_total{outcome="delivered",position="received",subscriber="spancount"} 4`) {
		t.Fatalf("/metrics after a restart:\n%s", grepLines(body, "otlp_tap_"))
	}
	// A route that clashes with the admin port's own is refused, and the running one stays.
	err = s.Reload(ctx, parseWith(t, f, serviceBase+"[spancount]\nlabel = \"three\"\nroute = \"GET /metrics\"\n"))
	if err == nil || !strings.Contains(err.Error(), `"GET /metrics"`) {
		t.Fatalf("a clashing route: %v", err)
	}
	if len(created) != 3 || created[2].shutdown != 1 || created[1].shutdown != 0 {
		t.Fatalf("after a rejected reload the rejected instance must be released and the running one kept")
	}
	// Gone: stopped, and its route answers 404.
	if err := s.Reload(ctx, parseWith(t, f, serviceBase)); err != nil {
		t.Fatal(err)
	}
	if created[1].shutdown != 1 {
		t.Fatal("a removed service was not stopped")
	}
	if code, _ := adminGet(t, s, "/api/v1/spancount"); code != http.StatusNotFound {
		t.Fatalf("a removed service's route answers %d", code)
	}
}

// A service that implements component.Reconfigurer keeps running, with its state, through a
// reload that changes its table; one that refuses the change rejects the reload.
func TestSideServiceReconfiguredInPlace(t *testing.T) {
	var created []*spancount
	var got *capture
	f := serviceFactories(t, &created, &got)
	s, err := server.New(parseWith(t, f, serviceBase+"[spancount]\nlabel = \"one\"\nreconfigurable = true\n"), server.Settings{Factories: f})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(ctx)
	sendSpans(t, s, "a")
	created[0].waitTotal(t, 1)
	if err := s.Reload(ctx, parseWith(t, f, serviceBase+"[spancount]\nlabel = \"two\"\nreconfigurable = true\n")); err != nil {
		t.Fatal(err)
	}
	if len(created) != 1 || created[0].shutdown != 0 || created[0].label() != "two" {
		t.Fatalf("%d created, shut down %d times, label %q: want the one instance relabelled", len(created), created[0].shutdown, created[0].label())
	}
	sendSpans(t, s, "b")
	created[0].waitTotal(t, 2) // its state (the count) carried over
	err = s.Reload(ctx, parseWith(t, f, serviceBase+"[spancount]\nlabel = \"three\"\nreconfigurable = true\nrefuse_reconfigure = true\n"))
	if err == nil || !strings.Contains(err.Error(), "cannot take that") {
		t.Fatalf("a refused reconfiguration: %v", err)
	}
	if created[0].label() != "two" || created[0].shutdown != 0 {
		t.Fatal("a rejected reload changed the running service")
	}
}

// A subscriber that never reads holds its bound; every span still reaches the exporter and the
// batches it could not take are counted as skipped.
func TestStalledServiceDoesNotBlockThePipeline(t *testing.T) {
	var created []*spancount
	var got *capture
	f := serviceFactories(t, &created, &got)
	s, err := server.New(parseWith(t, f, serviceBase+"[spancount]\nlabel = \"x\"\nstall = true\nmax_batches = 2\n"), server.Settings{Factories: f})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(ctx)
	names := make([]string, 20)
	for i := range names {
		names[i] = fmt.Sprint("s", i)
	}
	sendSpans(t, s, names...) // one request per span: 20 batches
	if n := len(got.seen()); n != 20 {
		t.Fatalf("the exporter got %d of 20 spans", n)
	}
	st := created[0].sub.Stats()
	if st != (tap.Stats{Batches: 2, Items: 2, SkippedBatches: 18, SkippedItems: 18}) {
		t.Fatalf("tap stats %+v; want 2 delivered and 18 skipped", st)
	}
	if _, body := adminGet(t, s, "/metrics"); !strings.Contains(body, `otlp_tap_items_total{outcome="skipped",position="received",subscriber="spancount"} 18`) {
		t.Fatalf("/metrics lacks the skipped count:\n%s", grepLines(body, "otlp_tap_"))
	}
}

// A service's table is strict like every other: an unknown key and its own validation are named.
func TestServiceConfigErrors(t *testing.T) {
	var created []*spancount
	var got *capture
	f := serviceFactories(t, &created, &got)
	noEnv := func(string) (string, bool) { return "", false }
	for _, c := range []struct{ add, want string }{
		{"[spancount]\nlabel = \"x\"\ncolour = 1\n", "colour"},
		{"[spancount]\n", "spancount.label: must be set"},
		{"[spancount]\nlabel = 5\n", "spancount"},
	} {
		_, err := config.ParseWith(f, config.ProfileServer, []byte(serviceBase+c.add), noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.add, err, c.want)
		}
	}
	if _, err := config.Parse([]byte(serviceBase+"[spancount]\nlabel = \"x\"\n"), noEnv); err == nil || !strings.Contains(err.Error(), "spancount") {
		t.Errorf("a service the built-in list lacks: %v", err)
	}
	_, err := component.NewFactories(component.NewServiceFactory("admin", func() *spancountConfig { return &spancountConfig{} },
		func(context.Context, component.ServiceSettings, *spancountConfig) (component.Service, error) {
			return nil, nil
		}))
	if err == nil || !strings.Contains(err.Error(), `"admin"`) {
		t.Errorf("a service named like a section of the file: %v", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// BenchmarkTapStall sends 512-span requests over gRPC through a real server (receiver, batch,
// nop exporter) with no side service, with one whose tap subscriber never reads (full after
// one batch, so every later batch is skipped and counted), and with one that decodes every
// batch. The stalled row must match the no-service row: skipping costs a few atomic
// operations and no copy.
func BenchmarkTapStall(b *testing.B) {
	names := make([]string, 512)
	for i := range names {
		names[i] = fmt.Sprint("op", i%16)
	}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bench")
	ss := rs.ScopeSpans().AppendEmpty()
	for i, n := range names {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(n)
		sp.SetTraceID([16]byte{1, byte(i), byte(i >> 8)})
		sp.SetSpanID([8]byte{2, byte(i), byte(i >> 8)})
		sp.SetStartTimestamp(1_000_000_000)
		sp.SetEndTimestamp(2_000_000_000)
		sp.Attributes().PutStr("http.route", "/api/"+n)
	}
	req := ptraceotlp.NewExportRequestFromTraces(td)
	const base = `
[admin]
endpoint = "127.0.0.1:0"
[receivers.otlp.grpc]
endpoint = "127.0.0.1:0"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[processors.batch]
[exporters.nop]
[pipelines.traces]
receivers = ["otlp"]
processors = ["batch"]
exporters = ["nop"]
`
	for _, c := range []struct{ name, add string }{
		{"none", ""},
		{"stalled", "[spancount]\nlabel = \"x\"\nstall = true\nmax_batches = 1\n"},
		{"reading", "[spancount]\nlabel = \"x\"\n"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var created []*spancount
			var got *capture
			f := serviceFactories(b, &created, &got)
			cfg, err := config.ParseWith(f, config.ProfileServer, []byte(base+c.add), func(string) (string, bool) { return "", false })
			if err != nil {
				b.Fatal(err)
			}
			s, err := server.New(cfg, server.Settings{Factories: f})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := s.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer s.Shutdown(ctx)
			addr, _ := s.ReceiverAddrs("otlp")
			conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := ptraceotlp.NewGRPCClient(conn)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Export(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(names))/b.Elapsed().Seconds(), "spans/s")
			if c.name == "stalled" {
				if st := created[0].sub.Stats(); st.SkippedBatches == 0 && b.N > 2 {
					b.Fatalf("the stalled subscriber skipped nothing: %+v", st)
				}
			}
		})
	}
}
