package otlpgrpc_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otlp-dev/otlp/internal/exporter/internal/exptest"
	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// balancedConfig balances over endpoints with policy; retries are fast and never give up.
func balancedConfig(policy string, endpoints ...string) otlpgrpc.Config {
	cfg := baseConfig("")
	cfg.Endpoints = endpoints
	cfg.Balancer.Policy = policy
	cfg.Retry.MaxElapsedTime = 0
	cfg.Timeout = 2 * time.Second
	return cfg
}

// shutdown stops the exporter, draining its memory queue: a barrier after which everything
// sent was delivered.
func shutdown(t *testing.T, h harness) {
	t.Helper()
	if err := h.exp.Shutdown(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// spansBySink returns, per sink, the span ids it holds and the trace of each.
func spansBySink(sinks []*testutil.Sink) []map[pcommon.SpanID]pcommon.TraceID {
	out := make([]map[pcommon.SpanID]pcommon.TraceID, len(sinks))
	for i, s := range sinks {
		out[i] = map[pcommon.SpanID]pcommon.TraceID{}
		for _, td := range s.Traces() {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						out[i][sp.SpanID()] = sp.TraceID()
					}
				}
			}
		}
	}
	return out
}

// assertAllArrived checks that the spans 0..n-1 of testutil.Traces arrived, on any sink.
func assertAllArrived(t *testing.T, sinks []*testutil.Sink, n int) {
	t.Helper()
	got := map[pcommon.SpanID]bool{}
	for _, m := range spansBySink(sinks) {
		for id := range m {
			got[id] = true
		}
	}
	missing := 0
	for i := range n {
		if !got[testutil.SpanID(i)] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d spans never arrived", missing, n)
	}
}

func TestBalancedConsistentHashKeepsTracesOnOneSink(t *testing.T) {
	sinks := []*testutil.Sink{testutil.NewSink(t), testutil.NewSink(t), testutil.NewSink(t)}
	h := start(t, balancedConfig(lb.PolicyConsistentHash, sinks[0].GRPCAddr, sinks[1].GRPCAddr, sinks[2].GRPCAddr))
	const batches, per = 12, 96
	for i := range batches {
		// Consecutive batches overlap by half: a trace's spans arrive in two batches.
		if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(3, per/3, i*per/2))); err != nil {
			t.Fatal(err)
		}
	}
	shutdown(t, h)
	owner := map[pcommon.TraceID]int{}
	for i, m := range spansBySink(sinks) {
		if len(m) == 0 {
			t.Errorf("sink %d received nothing", i)
		}
		for _, tid := range m {
			if o, ok := owner[tid]; ok && o != i {
				t.Fatalf("trace %x on sinks %d and %d", tid, o, i)
			}
			owner[tid] = i
		}
	}
	assertAllArrived(t, sinks, (batches+1)*per/2)
	if eps := h.exp.Endpoints(); len(eps) != 3 {
		t.Errorf("Endpoints() = %v", eps)
	}
}

// TestBalancedFailoverWhenASinkDies: a collector vanishes while batches are in flight; its
// share fails over to the others and nothing is lost.
func TestBalancedFailoverWhenASinkDies(t *testing.T) {
	for _, policy := range []string{lb.PolicyRoundRobin, lb.PolicyConsistentHash} {
		t.Run(policy, func(t *testing.T) {
			sinks := []*testutil.Sink{testutil.NewSink(t), testutil.NewSink(t), testutil.NewSink(t)}
			proxies := make([]*exptest.Proxy, len(sinks))
			addrs := make([]string, len(sinks))
			for i, s := range sinks {
				proxies[i] = exptest.NewProxy(t, s.GRPCAddr)
				addrs[i] = proxies[i].Addr
			}
			h := start(t, balancedConfig(policy, addrs...))
			const batches, per = 30, 64
			for i := range batches {
				if i == batches/2 {
					proxies[1].Kill() // mid-stream: earlier batches may still be in flight
				}
				if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(2, per/2, i*per))); err != nil {
					t.Fatal(err)
				}
			}
			shutdown(t, h)
			assertAllArrived(t, sinks, batches*per)
			if got := h.counter(t, "otlp_dropped_spans_total"); got != 0 {
				t.Errorf("%v spans counted dropped", got)
			}
			if n := sinks[1].Items(pipeline.SignalTraces); n > batches/2*per {
				t.Errorf("the killed sink holds %d spans, more than the %d sent before it died", n, batches/2*per)
			}
		})
	}
}

// TestBalancedEndpointFileChangeLosesNothing: batches queued (on disk) for an endpoint that is
// down are delivered to the endpoint that replaces it in the watched file.
func TestBalancedEndpointFileChangeLosesNothing(t *testing.T) {
	gone := exptest.NewProxy(t, "127.0.0.1:1")
	gone.Kill()
	sink := testutil.NewSink(t)
	path := filepath.Join(t.TempDir(), "collectors")
	writeFile(t, path, gone.Addr+"\n")

	cfg := baseConfig("")
	cfg.Balancer.File.Path = path
	// Without breakers: an open one would make the retries wait out its recovery_timeout.
	cfg.Balancer.CircuitBreaker.Disabled = true
	cfg.Retry.MaxElapsedTime = time.Millisecond // ignored: the disk queue keeps batches until delivered
	cfg.Queue.Storage = sender.StorageDisk
	cfg.Queue.Disk.Dir = t.TempDir()
	h := start(t, cfg)
	const batches, per = 8, 20
	for i := range batches {
		if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, per, i*per))); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, path, "# moved\n"+sink.GRPCAddr+"\n")
	ctx := waitCtx(t)
	if err := sink.WaitSpans(ctx, batches*per); err != nil {
		t.Fatal(err)
	}
	assertAllArrived(t, []*testutil.Sink{sink}, batches*per)
	if got := h.counter(t, "otlp_dropped_spans_total"); got != 0 {
		t.Errorf("%v spans counted dropped", got)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestBalancedConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*otlpgrpc.Config)
		want string
	}{
		{"endpoints", func(c *otlpgrpc.Config) { c.Endpoint, c.Endpoints = "", []string{"a:4317", "b:4317"} }, ""},
		{"dns", func(c *otlpgrpc.Config) { c.Endpoint, c.Balancer.DNS.Name = "", "collectors:4317" }, ""},
		{"both", func(c *otlpgrpc.Config) { c.Endpoints = []string{"a:4317"} }, "endpoint"},
		{"endpoints and file", func(c *otlpgrpc.Config) {
			c.Endpoint, c.Endpoints, c.Balancer.File.Path = "", []string{"a:4317"}, "eps"
		}, "endpoint"},
		{"bad entry", func(c *otlpgrpc.Config) { c.Endpoint, c.Endpoints = "", []string{"a:4317", "dns:///b:4317"} }, "endpoints[1]"},
		{"policy", func(c *otlpgrpc.Config) {
			c.Endpoint, c.Endpoints, c.Balancer.Policy = "", []string{"a:4317"}, "random"
		}, "balancer.policy"},
		{"none", func(c *otlpgrpc.Config) { c.Endpoint = "" }, "endpoint"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig("collector:4317")
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want+":")) {
				t.Fatalf("Validate() = %v, want a %q error", err, tt.want)
			}
		})
	}
}

// TestBalancedShutdownWithoutStart: a static endpoint list makes its connections in New;
// Shutdown alone closes them.
func TestBalancedShutdownWithoutStart(t *testing.T) {
	exp, err := otlpgrpc.New(balancedConfig(lb.PolicyRoundRobin, "127.0.0.1:1", "127.0.0.1:2"), otlpgrpc.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
