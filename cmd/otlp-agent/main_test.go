package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

var binary string

func TestMain(m *testing.M) {
	bin, cleanup, err := testutil.BuildMain("otlp-agent")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// TestAgentDefaultsForwardThroughDiskQueue runs the agent with no file, only the environment a
// deployment sets: spans from the official SDK reach the collector (a test OTLP receiver), host
// metrics flow too, the disk queue lives in the working directory, and /metrics reports it.
func TestAgentDefaultsForwardThroughDiskQueue(t *testing.T) {
	sink := testutil.NewSink(t)
	work := t.TempDir()
	grpcAddr, httpAddr, adminAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	cmd := exec.Command(binary)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "OTLP_CONFIG_PATH=",
		"OTLP_COLLECTOR_ENDPOINT=http://"+sink.GRPCAddr,
		"OTLP_GRPC_ENDPOINT="+grpcAddr, "OTLP_HTTP_ENDPOINT="+httpAddr, "OTLP_ADMIN_ENDPOINT="+adminAddr)
	var logs testutil.LogBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()
	waitReady(t, "http://"+adminAddr+"/ready")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	for i := 0; i < 200; i++ {
		_, sp := tp.Tracer("agent-test").Start(ctx, fmt.Sprintf("op-%d", i))
		sp.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sink.WaitSpans(ctx, 200); err != nil {
		t.Fatalf("spans through the agent: %v", err)
	}
	if err := sink.WaitItems(ctx, pipeline.SignalMetrics, 1); err != nil {
		t.Fatalf("host metrics through the agent: %v", err)
	}
	if _, err := os.Stat(filepath.Join(work, "otlp-agent-queue")); err != nil {
		t.Fatalf("disk queue directory: %v", err)
	}
	// The start-up line says what runs, as the environment set it.
	if l := logs.String(); !strings.Contains(l, "disk queue in otlp-agent-queue, collectors http://"+sink.GRPCAddr) {
		t.Errorf("start-up line does not name the queue and the collector:\n%s", l)
	}
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"otlp_queue_disk_bytes", "otlp_queue_oldest_item_age_seconds", "otlp_received_spans_total", "otlp_dropped_spans_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("no exit after SIGTERM")
	}
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling another process's port
	}
	t.Fatalf("%s never ready", url)
}

// readyReport fetches /ready: its status code and body.
func readyReport(t *testing.T, adminAddr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestAgentReadyBuffersThenRefuses: with the collector unreachable the agent still accepts and
// buffers on disk, and /ready says so (200, degraded, the reason); once the disk queue is full
// under the block policy it cannot accept, and /ready turns 503 saying why.
func TestAgentReadyBuffersThenRefuses(t *testing.T) {
	work := t.TempDir()
	grpcAddr, adminAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	cfg := fmt.Sprintf(`
[admin]
endpoint = %q
[receivers.otlp.grpc]
endpoint = %q
[receivers.otlp.http]
endpoint = %q
[exporters.otlp]
endpoint = "http://%s"
unhealthy_after = "100ms"
retry = { initial_interval = "20ms", max_interval = "50ms" }
sending_queue = { storage = "disk", block_timeout = "20ms", disk = { dir = %q, max_disk_bytes = 262144, segment_bytes = 65536 } }
[pipelines.traces]
receivers = ["otlp"]
exporters = ["otlp"]
`, adminAddr, grpcAddr, testutil.FreeAddr(t), testutil.FreeAddr(t), filepath.Join(work, "queue"))
	path := filepath.Join(work, "agent.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "--config", path)
	cmd.Dir = work
	var logs testutil.LogBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()
	waitReady(t, "http://"+adminAddr+"/ready")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}), otlptracegrpc.WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	batch := make([]sdktrace.ReadOnlySpan, 200)
	pad := strings.Repeat("x", 512)
	for i := range batch {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, byte(i)}, SpanID: trace.SpanID{2, byte(i)}})
		batch[i] = tracetest.SpanStub{Name: "op", SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String("pad", pad)}}.Snapshot()
	}
	if err := exp.ExportSpans(ctx, batch); err != nil {
		t.Fatalf("first batch, queue empty: %v", err)
	}
	// The collector is unreachable: ready (200) but degraded, buffering.
	var code int
	var body string
	for {
		code, body = readyReport(t, adminAddr)
		if strings.Contains(body, `"degraded"`) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("never degraded while the collector is away: %d %s", code, body)
		case <-time.After(20 * time.Millisecond): // polling another process
		}
	}
	if code != http.StatusOK || !strings.Contains(body, "accepting and buffering on disk") || !strings.Contains(body, "refused") {
		t.Fatalf("/ready while buffering = %d %s, want 200, degraded, buffering, with the cause", code, body)
	}
	// Fill the disk queue (256 KiB): the block policy then refuses. The receiver holds a
	// refused request, waiting for room, until the sender's deadline (500ms here).
	refused := false
	for range 100 {
		if err := exp.ExportSpans(ctx, batch); err != nil {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("a 256 KiB disk queue took 100 batches of 100 KiB")
	}
	code, body = readyReport(t, adminAddr)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "cannot accept: the queue is full") {
		t.Fatalf("/ready with the queue full = %d %s, want 503 cannot accept", code, body)
	}
}
