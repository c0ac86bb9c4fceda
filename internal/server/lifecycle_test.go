package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otlp-dev/otlp/internal/admin"
	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// rawClient sends pre-encoded trace requests and reports which were acknowledged.
type rawClient struct{ conn *grpc.ClientConn }

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpcraw.Codec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{conn: conn}
}

func (c *rawClient) send(ctx context.Context, first, n int) error {
	b := testutil.TracesBatch(testutil.Traces(1, n, first))
	var resp grpcraw.Frame
	return c.conn.Invoke(ctx, grpcraw.TracesMethod, &grpcraw.Frame{Body: b.Body}, &resp)
}

// TestShutdownUnderLoadLosesNothingAcknowledged: senders keep sending while the server shuts
// down; every request the server acknowledged must reach the upstream.
func TestShutdownUnderLoadLosesNothingAcknowledged(t *testing.T) {
	sink := testutil.NewSink(t)
	cfg, err := config.Parse([]byte(forwardConfig(sink.GRPCAddr, "")), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	grpcAddr, _ := s.ReceiverAddrs("otlp")
	client := dialRaw(t, grpcAddr.String())

	const senders, perSender, spansPer = 4, 300, 50
	var (
		mu    sync.Mutex
		acked []int // first span number of each acknowledged request
		wg    sync.WaitGroup
		sent  atomic.Int64
	)
	for w := 0; w < senders; w++ {
		wg.Go(func() {
			for i := 0; i < perSender; i++ {
				first := (w*perSender + i) * spansPer
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := client.send(ctx, first, spansPer)
				cancel()
				if err != nil {
					return // the server is going away
				}
				sent.Add(1)
				mu.Lock()
				acked = append(acked, first)
				mu.Unlock()
			}
		})
	}
	// Shut down once data is flowing through to the upstream.
	ctx := waitCtx(t)
	if err := sink.WaitSpans(ctx, 20*spansPer); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	got := map[[8]byte]bool{}
	for _, id := range sink.SpanIDs() {
		got[id] = true
	}
	mu.Lock()
	defer mu.Unlock()
	lost := 0
	for _, first := range acked {
		for n := first; n < first+spansPer; n++ {
			if !got[testutil.SpanID(n)] {
				lost++
			}
		}
	}
	t.Logf("acknowledged %d requests (%d spans) before shutdown; %d spans at the upstream", len(acked), len(acked)*spansPer, len(got))
	if lost > 0 {
		t.Fatalf("%d acknowledged spans lost on shutdown", lost)
	}
	if len(acked) == senders*perSender {
		t.Log("note: every request was acknowledged before shutdown began")
	}
}

// TestReloadSwitchesExportersWithoutLoss sends continuously while the configuration changes
// the exporter from one upstream to another; every acknowledged span reaches one of them.
func TestReloadSwitchesExportersWithoutLoss(t *testing.T) {
	first, second := testutil.NewSink(t), testutil.NewSink(t)
	s := startServer(t, forwardConfig(first.GRPCAddr, ""))
	grpcAddr, _ := s.ReceiverAddrs("otlp")
	client := dialRaw(t, grpcAddr.String())
	ctx := waitCtx(t)

	// The receiver's address must survive the reload: pin it in the new config.
	next := forwardConfig(second.GRPCAddr, "")
	next = strings.Replace(next, "[receivers.otlp.grpc]\nendpoint = \"127.0.0.1:0\"", "[receivers.otlp.grpc]\nendpoint = \""+grpcAddr.String()+"\"", 1)

	const spansPer = 20
	total := 0
	for i := 0; i < 50; i++ {
		if err := client.send(ctx, total, spansPer); err != nil {
			t.Fatal(err)
		}
		total += spansPer
	}
	cfg2, err := config.Parse([]byte(next), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	// The receiver config differs (pinned port vs 0), so this reload also restarts the receiver
	// on the same port: a client retry covers the gap.
	if err := s.Reload(ctx, cfg2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		err := client.send(ctx, total, spansPer)
		for attempt := 0; err != nil && attempt < 50; attempt++ {
			err = client.send(ctx, total, spansPer)
		}
		if err != nil {
			t.Fatal(err)
		}
		total += spansPer
	}
	sum := func() int { return first.Items(1) + second.Items(1) }
	if err := second.WaitSpans(ctx, 1); err != nil {
		t.Fatal("new upstream got nothing:", err)
	}
	// Everything sent before the reload reached the first upstream (drained on reload).
	if got := first.Items(1); got < 50*spansPer {
		t.Fatalf("first upstream got %d of %d spans sent before the reload", got, 50*spansPer)
	}
	if err := second.WaitSpans(ctx, total-first.Items(1)); err != nil || sum() < total {
		t.Fatalf("after reload: %d of %d spans delivered: %v", sum(), total, err)
	}
}

// TestReadyTurnsNotReadyWhenExportersFail points the only exporter at an upstream that keeps
// answering UNAVAILABLE: /ready must turn 503, and what is still undelivered when the shutdown
// deadline passes is counted as dropped, never lost silently.
func TestReadyTurnsNotReadyWhenExportersFail(t *testing.T) {
	dead := testutil.NewFlakyServer(t)
	dead.SetDefault(testutil.Unavailable(0))
	cfg := strings.Replace(forwardConfig(dead.GRPCAddr, `
[exporters.otlp.retry]
initial_interval = "5ms"
max_interval = "10ms"
`), "tls = { insecure = true }", "tls = { insecure = true }\nunhealthy_after = \"20ms\"", 1)
	s := newStartedServer(t, cfg)
	grpcAddr, _ := s.ReceiverAddrs("otlp")
	client := dialRaw(t, grpcAddr.String())
	ctx := waitCtx(t)
	if err := client.send(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := dead.WaitRequests(ctx, 3); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.Ready(ctx).Ready {
		select {
		case <-ctx.Done():
			t.Fatalf("still ready while every export fails: %+v", s.Ready(ctx))
		case <-tick.C:
		}
	}
	resp, err := http.Get("http://" + s.AdminAddr().String() + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	var rep admin.Report
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/ready = %d (%v), want 503", resp.StatusCode, err)
	}
	// /ready says why, for the exporter and for its endpoint.
	details := map[string]string{}
	for _, c := range rep.Checks {
		details[c.Name] = c.Detail
	}
	if d := details["exporter/otlp"]; !strings.Contains(d, "Unavailable") || !strings.Contains(d, dead.GRPCAddr) {
		t.Errorf("exporter/otlp detail %q, want the last error (Unavailable) naming the endpoint", d)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = s.Shutdown(sctx) // the upstream never accepts: the drain must give up at the deadline
	if got := testutil.MetricValue(t, s.Metrics().Registry, "otlp_dropped_spans_total", "reason", "shutdown"); got != 10 {
		t.Fatalf("dropped(shutdown) = %v, want the 10 undelivered spans", got)
	}
}

// TestUnknownKeyIsNamed: a typo is an error naming the key, never a silent default.
func TestUnknownKeyIsNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otlp.toml")
	if err := os.WriteFile(path, []byte("[exporters.otlp]\nendpont = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), "exporters.otlp.endpont: unknown key") {
		t.Fatalf("want an error naming the unknown key, got %v", err)
	}
}

// TestResilienceOnMetricsAndDegradedReady: with two exporters of which one keeps failing, the
// server stays ready but degraded, and /metrics shows the exporters' retry counters through the
// resilience package's OpenTelemetry instruments.
func TestResilienceOnMetricsAndDegradedReady(t *testing.T) {
	sink := testutil.NewSink(t)
	dead := testutil.NewFlakyServer(t)
	dead.SetDefault(testutil.Unavailable(0))
	closed := testutil.FreeAddr(t)
	cfg := forwardConfig(sink.GRPCAddr, `
[exporters."otlp/dead"]
endpoints = ["http://`+dead.GRPCAddr+`", "http://`+closed+`"]
unhealthy_after = "10ms"
[otlp.resilience]
retry = { base_delay = "5ms", max_delay = "10ms" }
`)
	cfg = strings.Replace(cfg, "[pipelines.traces]\nreceivers = [\"otlp\"]\nprocessors = [\"batch\"]\nexporters = [\"otlp\"]",
		"[pipelines.traces]\nreceivers = [\"otlp\"]\nprocessors = [\"batch\"]\nexporters = [\"otlp\", \"otlp/dead\"]", 1)
	s := newStartedServer(t, cfg)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	if got := s.cfg.Exporters["otlp/dead"].Config.(*otlpgrpc.Config).Retry.InitialInterval; got != 5*time.Millisecond {
		t.Fatalf("[otlp.resilience] retry not applied to the exporter: initial_interval %s", got)
	}
	grpcAddr, _ := s.ReceiverAddrs("otlp")
	client := dialRaw(t, grpcAddr.String())
	ctx := waitCtx(t)
	if err := client.send(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := sink.WaitSpans(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := dead.WaitRequests(ctx, 3); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.Ready(ctx).Status != "degraded" {
		select {
		case <-ctx.Done():
			t.Fatalf("never degraded: %+v", s.Ready(ctx))
		case <-tick.C:
		}
	}
	rep := s.Ready(ctx)
	if !rep.Ready {
		t.Fatalf("one failing exporter of two must not make the server unready: %+v", rep)
	}
	// Each endpoint of the balanced exporter has its row with its own last error.
	details := map[string]string{}
	for _, c := range rep.Checks {
		details[c.Name] = c.Detail
	}
	for addr, cause := range map[string]string{dead.GRPCAddr: "Unavailable", closed: "refused"} {
		if d := details["exporter/otlp/dead/endpoint/"+addr]; !strings.Contains(d, "last error") || !strings.Contains(d, cause) {
			t.Errorf("endpoint %s: detail %q, want its last error (%s); checks %v", addr, d, cause, details)
		}
	}
	if got := testutil.MetricValue(t, s.Metrics().Registry, "resilience_retries_total", "policy", "exporter/otlp/dead"); got < 2 {
		t.Fatalf("resilience_retries_total{policy=exporter/otlp/dead} = %v, want the retries", got)
	}
}

// TestReloadKeepsGoMemoryLimit: every pipeline's memory limiter sets the Go runtime's limit; a
// reload that changes limit_mib leaves the new value in force (the old limiters stopping after
// the new ones started must not restore what was there before), and shutdown restores it.
func TestReloadKeepsGoMemoryLimit(t *testing.T) {
	const before = int64(7 << 30)
	prev := debug.SetMemoryLimit(before)
	defer debug.SetMemoryLimit(prev)
	withLimiter := func(mib int) string {
		return strings.ReplaceAll(forwardConfig(testutil.FreeAddr(t), fmt.Sprintf("[processors.memory_limiter]\nlimit_mib = %d\n", mib)),
			`processors = ["batch"]`, `processors = ["memory_limiter", "batch"]`)
	}
	s := newStartedServer(t, withLimiter(4000))
	if got := debug.SetMemoryLimit(-1); got != 4000<<20 {
		t.Fatalf("after start: Go memory limit %d MiB, want 4000", got>>20)
	}
	cfg, err := config.Parse([]byte(withLimiter(3000)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ctx := waitCtx(t)
	if err := s.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != 3000<<20 {
		t.Errorf("after a reload to limit_mib = 3000: Go memory limit %d MiB, want 3000", got>>20)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("after shutdown: Go memory limit %d MiB, want the %d MiB from before", got>>20, before>>20)
	}
}

// TestReloadNeverLeavesTheServerDeaf: a valid file whose receiver cannot start (a missing
// certificate, a port another process holds) is rejected or rolled back; the running receiver
// keeps accepting and delivering, and the server stays ready.
func TestReloadNeverLeavesTheServerDeaf(t *testing.T) {
	sink := testutil.NewSink(t)
	grpcAddr, httpAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	base := strings.Replace(strings.Replace(forwardConfig(sink.GRPCAddr, ""),
		"[receivers.otlp.grpc]\nendpoint = \"127.0.0.1:0\"", "[receivers.otlp.grpc]\nendpoint = \""+grpcAddr+"\"", 1),
		"[receivers.otlp.http]\nendpoint = \"127.0.0.1:0\"", "[receivers.otlp.http]\nendpoint = \""+httpAddr+"\"", 1)
	s := newStartedServer(t, base)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	ctx := waitCtx(t)
	client := dialRaw(t, grpcAddr)
	sent := 0
	sendAndCheck := func(when string) {
		t.Helper()
		if err := client.send(ctx, sent, 10); err != nil {
			t.Fatalf("%s: the receiver refused: %v", when, err)
		}
		sent += 10
		if err := sink.WaitSpans(ctx, sent); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if rep := s.Ready(ctx); !rep.Ready {
			t.Fatalf("%s: not ready: %+v", when, rep)
		}
	}
	sendAndCheck("before the reloads")

	// 1. A certificate that does not exist: rejected before anything stops.
	missing := strings.Replace(base, "[receivers.otlp.grpc]", fmt.Sprintf("[receivers.otlp.tls]\ncert_file = %q\nkey_file = %q\n[receivers.otlp.grpc]",
		filepath.Join(t.TempDir(), "cert.pem"), filepath.Join(t.TempDir(), "key.pem")), 1)
	cfg, err := config.Parse([]byte(missing), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(ctx, cfg); err == nil || !strings.Contains(err.Error(), "tls.cert_file") {
		t.Fatalf("reload with a missing certificate: %v, want it rejected naming tls.cert_file", err)
	}
	sendAndCheck("after a reload with a missing certificate")

	// 2. The new HTTP port is held by another process: the new receiver cannot bind; the old one
	// comes back.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := strings.Replace(base, httpAddr, held.Addr().String(), 1)
	if cfg, err = config.Parse([]byte(taken), func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(ctx, cfg); err == nil || !strings.Contains(err.Error(), "previous configuration restored") {
		t.Fatalf("reload onto a taken port: %v, want it rolled back", err)
	}
	client = dialRaw(t, grpcAddr) // the receiver was restarted: a fresh connection
	sendAndCheck("after a reload onto a taken port")
}

// TestReloadPicksUpARotatedTokenFile: the same file text, a new token in bearer_token_file: a
// reload (SIGHUP) restarts the receiver with the new token instead of "configuration unchanged".
func TestReloadPicksUpARotatedTokenFile(t *testing.T) {
	sink := testutil.NewSink(t)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("old-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	grpcAddr := testutil.FreeAddr(t)
	text := strings.Replace(forwardConfig(sink.GRPCAddr, ""), "[receivers.otlp.grpc]\nendpoint = \"127.0.0.1:0\"",
		fmt.Sprintf("[receivers.otlp.auth]\nbearer_token_file = %q\n[receivers.otlp.grpc]\nendpoint = %q", token, grpcAddr), 1)
	s := newStartedServer(t, text)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	ctx := waitCtx(t)
	send := func(secret string) error {
		c := dialRaw(t, grpcAddr)
		return c.send(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret), 0, 1)
	}
	if err := send("old-secret"); err != nil {
		t.Fatalf("old token before the rotation: %v", err)
	}
	if err := os.WriteFile(token, []byte("new-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := send("new-secret"); err != nil {
		t.Fatalf("new token after the reload: %v", err)
	}
	if err := send("old-secret"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("old token after the reload: %v, want UNAUTHENTICATED", err)
	}
}

// TestReloadPicksUpARotatedAdminToken: the admin port's token file rotated, the file text
// unchanged: a reload makes the new token the one /metrics asks for, without a restart.
func TestReloadPicksUpARotatedAdminToken(t *testing.T) {
	sink := testutil.NewSink(t)
	token := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(token, []byte("old-admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(forwardConfig(sink.GRPCAddr, ""), "[admin]\nendpoint = \"127.0.0.1:0\"",
		fmt.Sprintf("[admin]\nendpoint = \"127.0.0.1:0\"\nauth = { bearer_token_file = %q }", token), 1)
	s := newStartedServer(t, text)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	metrics := func(secret string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.AdminAddr().String()+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := metrics("old-admin"); code != 200 {
		t.Fatalf("/metrics with the admin token = %d", code)
	}
	if err := os.WriteFile(token, []byte("new-admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(waitCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	if old, cur := metrics("old-admin"), metrics("new-admin"); old != http.StatusUnauthorized || cur != 200 {
		t.Fatalf("after the reload: old token %d, new token %d; want 401 and 200", old, cur)
	}
}
