// Package compare runs otlp-server and the OpenTelemetry Collector (built with the contrib
// components of bench/components/manifest.yaml) on the same input and compares what comes out
// of each, item by item.
package compare

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/server"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// collectorBinary is the Collector `make tools` builds from bench/components/manifest.yaml.
const collectorBinary = "otelcol-components"

// absent skips the test, or fails it when CI=true: there, everything it needs must be present.
func absent(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; skipping")
}

// startCollector runs the Collector with the YAML config (where RECEIVER and SINK stand for its
// OTLP/gRPC listen address and the sink's) and returns the address it receives on, and a
// context that ends if the Collector exits (a configuration it rejects, say).
func startCollector(t *testing.T, ctx context.Context, yaml, sink string) (string, context.Context) {
	t.Helper()
	bin, err := exec.LookPath(collectorBinary)
	if err != nil {
		absent(t, "%s not found on PATH (make tools builds it from bench/components/manifest.yaml)", collectorBinary)
	}
	addr := testutil.FreeAddr(t)
	yaml = strings.NewReplacer("RECEIVER", addr, "SINK", sink).Replace(yaml) + `
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
`
	path := filepath.Join(t.TempDir(), "otelcol.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "--config", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	running, stop := context.WithCancel(ctx)
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		stop()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("collector output:\n%s", out.String())
		}
	})
	return addr, running
}

// startOurs runs otlp-server in process from TOML text (RECEIVER and SINK as for the
// Collector) and returns its OTLP/gRPC address, and a function that shuts it down, which
// delivers everything it holds to the sink first.
func startOurs(t *testing.T, toml, sink string) (string, func()) {
	t.Helper()
	toml = strings.NewReplacer("RECEIVER", "127.0.0.1:0", "SINK", sink).Replace(toml) + `
[admin]
endpoint = "127.0.0.1:0"
`
	cfg, err := config.Parse([]byte(toml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(cfg, server.Settings{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	drain := func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("shutting down: %v", err)
		}
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	g, _ := s.ReceiverAddrs("otlp")
	return g.String(), drain
}

// input is a sequence of requests, each sent alone and in order.
type input struct {
	traces  []ptrace.Traces
	metrics []pmetric.Metrics
	logs    []plog.Logs
}

// send delivers in to addr over OTLP/gRPC, waiting for the receiver to come up.
func send(t *testing.T, ctx context.Context, addr string, in input) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ready := grpc.WaitForReady(true)
	// A partial success would make the two sides count different input: fail on it.
	for _, td := range in.traces {
		resp, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td), ready)
		if err == nil && resp.PartialSuccess().RejectedSpans() > 0 {
			err = fmt.Errorf("%d spans rejected: %s", resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage())
		}
		if err != nil {
			t.Fatalf("%s: traces: %v", addr, err)
		}
	}
	for _, md := range in.metrics {
		resp, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md), ready)
		if err == nil && resp.PartialSuccess().RejectedDataPoints() > 0 {
			err = fmt.Errorf("%d points rejected: %s", resp.PartialSuccess().RejectedDataPoints(), resp.PartialSuccess().ErrorMessage())
		}
		if err != nil {
			t.Fatalf("%s: metrics: %v", addr, err)
		}
	}
	for _, ld := range in.logs {
		resp, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld), ready)
		if err == nil && resp.PartialSuccess().RejectedLogRecords() > 0 {
			err = fmt.Errorf("%d log records rejected: %s", resp.PartialSuccess().RejectedLogRecords(), resp.PartialSuccess().ErrorMessage())
		}
		if err != nil {
			t.Fatalf("%s: logs: %v", addr, err)
		}
	}
}

// diff compares two multisets of rendered items and describes the difference.
func diff(ours, theirs []string) string {
	sort.Strings(ours)
	sort.Strings(theirs)
	count := map[string]int{}
	for _, s := range ours {
		count[s]++
	}
	for _, s := range theirs {
		count[s]--
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(count)) {
		switch n := count[k]; {
		case n > 0:
			out = append(out, fmt.Sprintf("  only ours (%d): %s", n, k))
		case n < 0:
			out = append(out, fmt.Sprintf("  only the Collector's (%d): %s", -n, k))
		}
	}
	return strings.Join(out, "\n")
}

// testContext bounds a comparison.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
