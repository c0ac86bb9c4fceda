package otlphttp_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otlp-dev/otlp/internal/exporter/internal/exptest"
	"github.com/otlp-dev/otlp/internal/exporter/otlphttp"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/internal/queue"
	"github.com/otlp-dev/otlp/internal/testutil"
)

func balancedConfig(policy string, urls ...string) otlphttp.Config {
	cfg := baseConfig("")
	cfg.Endpoints = urls
	cfg.Balancer.Policy = policy
	cfg.Retry.MaxElapsedTime = 0
	cfg.Timeout = 2 * time.Second
	return cfg
}

// spanOwners maps every span id found on the sinks to the sinks holding it, and every trace
// id to the sink holding it (-1 when on several).
func spanOwners(sinks []*testutil.Sink) (spans map[pcommon.SpanID]bool, traces map[pcommon.TraceID]int) {
	spans, traces = map[pcommon.SpanID]bool{}, map[pcommon.TraceID]int{}
	for i, s := range sinks {
		for _, td := range s.Traces() {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						spans[sp.SpanID()] = true
						if o, ok := traces[sp.TraceID()]; ok && o != i {
							traces[sp.TraceID()] = -1
						} else {
							traces[sp.TraceID()] = i
						}
					}
				}
			}
		}
	}
	return spans, traces
}

func missing(spans map[pcommon.SpanID]bool, n int) int {
	m := 0
	for i := range n {
		if !spans[testutil.SpanID(i)] {
			m++
		}
	}
	return m
}

func hostPort(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

// TestBalancedHTTP: consistent hashing over three OTLP/HTTP collectors keeps each trace on one
// of them; one dies mid-stream and its share fails over without loss.
func TestBalancedHTTP(t *testing.T) {
	sinks := []*testutil.Sink{testutil.NewSink(t), testutil.NewSink(t), testutil.NewSink(t)}
	proxies := make([]*exptest.Proxy, len(sinks))
	urls := make([]string, len(sinks))
	for i, s := range sinks {
		proxies[i] = exptest.NewProxy(t, hostPort(t, s.HTTPURL))
		urls[i] = "http://" + proxies[i].Addr + "/"
	}
	h := start(t, balancedConfig(lb.PolicyConsistentHash, urls...))
	const batches, per = 20, 48
	for i := range batches {
		if i == batches/2 {
			proxies[2].Kill()
		}
		if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(2, per/2, i*per))); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.exp.Shutdown(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	spans, traces := spanOwners(sinks)
	if m := missing(spans, batches*per); m > 0 {
		t.Errorf("%d of %d spans never arrived", m, batches*per)
	}
	// Traces sent before the kill stay whole on one sink; later ones may have failed over.
	split := 0
	for _, o := range traces {
		if o < 0 {
			split++
		}
	}
	if split > len(traces)/4 {
		t.Errorf("%d of %d traces on several sinks", split, len(traces))
	}
	if got := h.counter(t, "otlp_dropped_spans_total"); got != 0 {
		t.Errorf("%v spans counted dropped", got)
	}
}

func TestBalancedHTTPTracesStayWhole(t *testing.T) {
	sinks := []*testutil.Sink{testutil.NewSink(t), testutil.NewSink(t), testutil.NewSink(t)}
	h := start(t, balancedConfig(lb.PolicyConsistentHash, sinks[0].HTTPURL, sinks[1].HTTPURL, sinks[2].HTTPURL))
	for i := range 10 {
		if err := h.exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(2, 30, i*60))); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.exp.Shutdown(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	spans, traces := spanOwners(sinks)
	if m := missing(spans, 600); m > 0 {
		t.Errorf("%d spans missing", m)
	}
	used := map[int]bool{}
	for id, o := range traces {
		if o < 0 {
			t.Fatalf("trace %x on several sinks", id)
		}
		used[o] = true
	}
	if len(used) != 3 {
		t.Errorf("traces reached %d sinks, want all 3", len(used))
	}
}

func TestHTTPDiskQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	flaky := testutil.NewFlakyServer(t)
	flaky.SetDefault(testutil.Unavailable(0))
	cfg := baseConfig(flaky.HTTPURL)
	cfg.Queue.Storage = sender.StorageDisk
	cfg.Queue.Disk.Dir = dir
	cfg.Queue.Disk.Fsync = queue.FsyncNever
	cfg.Retry.MaxElapsedTime = time.Millisecond // ignored without max_age
	first, err := otlphttp.New(cfg, otlphttp.Settings{Name: "otlphttp/test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := first.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 10, i*10))); err != nil {
			t.Fatal(err)
		}
	}
	if err := flaky.WaitRequests(waitCtx(t), 8); err != nil { // past the retry deadline
		t.Fatal(err)
	}
	if err := first.Shutdown(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	sink := testutil.NewSink(t)
	cfg.Endpoint = sink.HTTPURL
	h := start(t, cfg)
	if err := sink.WaitSpans(waitCtx(t), 40); err != nil {
		t.Fatal(err)
	}
	spans, _ := spanOwners([]*testutil.Sink{sink})
	if m := missing(spans, 40); m > 0 {
		t.Errorf("%d spans missing after the restart", m)
	}
	if got := h.counter(t, "otlp_dropped_spans_total"); got != 0 {
		t.Errorf("%v spans counted dropped", got)
	}
}

func TestBalancedHTTPConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*otlphttp.Config)
		want string
	}{
		{"urls", func(c *otlphttp.Config) { c.Endpoint, c.Endpoints = "", []string{"https://a:4318", "https://b/otlp"} }, ""},
		{"file", func(c *otlphttp.Config) { c.Endpoint, c.Balancer.File.Path = "", "eps" }, ""},
		{"both", func(c *otlphttp.Config) { c.Endpoints = []string{"https://a:4318"} }, "endpoint"},
		{"host:port", func(c *otlphttp.Config) { c.Endpoint, c.Endpoints = "", []string{"a:4318"} }, "endpoints[0]"},
		{"same host and port", func(c *otlphttp.Config) {
			c.Endpoint, c.Endpoints = "", []string{"https://a:4318/x", "https://a:4318/y"}
		}, "endpoints[1]"},
		{"per-signal URL", func(c *otlphttp.Config) {
			c.Endpoint, c.Endpoints, c.TracesEndpoint = "", []string{"https://a:4318"}, "https://t/v1/traces"
		}, "traces_endpoint"},
		{"insecure https", func(c *otlphttp.Config) {
			c.Endpoint, c.Endpoints, c.TLS.Insecure = "", []string{"https://a:4318"}, true
		}, "tls.insecure"},
		{"policy", func(c *otlphttp.Config) {
			c.Endpoint, c.Endpoints, c.Balancer.Policy = "", []string{"https://a:4318"}, "x"
		}, "balancer.policy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig("https://collector:4318")
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want+":")) {
				t.Fatalf("Validate() = %v, want a %q error", err, tt.want)
			}
		})
	}
}
