//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/testutil"
)

// The binaries under test, built once by TestMain.
var (
	serverBin string
	agentBin  string // otlp-agent, or otlp-server with an agent-style file until it exists
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "otlp-chaos")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		serverBin = filepath.Join(dir, "otlp-server")
		if err := build(serverBin, "../../cmd/otlp-server"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		agentBin = serverBin
		if _, err := os.Stat("../../cmd/otlp-agent/main.go"); err == nil {
			agentBin = filepath.Join(dir, "otlp-agent")
			if err := build(agentBin, "../../cmd/otlp-agent"); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func build(out, pkg string) error {
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// envInt reads a tuning knob from the environment (CHAOS_REQUESTS=200 for a quick run).
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestChaos runs the scenario once per fsync policy of the agent's disk queue and prints the
// totals as its last line.
func TestChaos(t *testing.T) {
	f := probeFeatures(t)
	// The scenario exercises both: a binary that rejects either fails the test rather than
	// running a weaker scenario.
	if !f.disk || !f.endpoints {
		t.Fatalf("the agent rejects a configuration the scenario needs: disk queue %v, balanced endpoints %v", f.disk, f.endpoints)
	}
	modes := []string{"always", "interval"}
	if m := os.Getenv("CHAOS_FSYNC"); m != "" {
		modes = strings.Split(m, ",")
	}
	var total result
	for _, mode := range modes {
		t.Run("queue="+mode, func(t *testing.T) {
			r := runScenario(t, mode)
			t.Logf("queue=%s: %s", mode, r)
			total.add(r)
			if r.lost > 0 {
				t.Errorf("%d acknowledged span ids never reached a collector", r.lost)
			}
			// Delivery is at least once: a batch that a collector wrote but whose answer never
			// reached the agent (the collector or the agent killed in between, the link
			// blackholed) is sent again. Each such fault repeats at most the batches in flight.
			if r.sent == 0 || r.duplicates*50 >= r.sent {
				t.Errorf("duplicates %d of %d sent: want < 2%%", r.duplicates, r.sent)
			}
		})
	}
	fmt.Println(total)
}

// features are the agent configuration keys the scenario needs and the binary may not have yet.
type features struct {
	endpoints bool // [exporters.otlp] endpoints = [...], balanced
	disk      bool // [exporters.otlp.sending_queue] storage = "disk"
}

// probeFeatures asks the agent binary which configurations it accepts.
func probeFeatures(t *testing.T) features {
	dir := t.TempDir()
	accepts := func(name, cfg string) bool {
		path := filepath.Join(dir, name+".toml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(agentBin, "--check-config", path).CombinedOutput()
		if err != nil {
			t.Logf("agent configuration with %s rejected: %s", name, strings.TrimSpace(string(out)))
		}
		return err == nil
	}
	return features{
		endpoints: accepts("endpoints", agentConfig("127.0.0.1:1", "127.0.0.1:2", []string{"127.0.0.1:3", "127.0.0.1:4"}, "", "")),
		disk:      accepts("disk", agentConfig("127.0.0.1:1", "127.0.0.1:2", []string{"127.0.0.1:3"}, filepath.Join(dir, "queue"), "always")),
	}
}

func collectorConfig(admin, grpc, file string) string {
	return fmt.Sprintf(`
[otlp]
shutdown_timeout = "10s"
[admin]
endpoint = %q
[receivers.otlp.grpc]
endpoint = %q
[receivers.otlp.http]
endpoint = ""
[exporters.file]
path = %q
flush_interval = "0s"
max_megabytes = 0
[pipelines.traces]
receivers = ["otlp"]
exporters = ["file"]
`, admin, grpc, file)
}

// agentConfig is an agent forwarding traces to endpoints (balanced when there are several).
// With a queue dir the exporter uses the disk queue with the given fsync policy, otherwise the
// memory queue. There is no batch processor (it would acknowledge from memory, ahead of the
// disk queue): with the disk queue, batches are merged after it (sending_queue.batch), as in
// the agent's defaults.
func agentConfig(admin, grpc string, endpoints []string, queueDir, fsync string) string {
	ep := fmt.Sprintf("endpoint = %q", endpoints[0])
	if len(endpoints) > 1 {
		quoted := make([]string, len(endpoints))
		for i, e := range endpoints {
			quoted[i] = strconv.Quote(e)
		}
		ep = "endpoints = [" + strings.Join(quoted, ", ") + "]"
	}
	var queue string
	if queueDir != "" {
		queue = fmt.Sprintf(`storage = "disk"
[exporters.otlp.sending_queue.disk]
dir = %q
fsync = %q
fsync_interval = "200ms"
[exporters.otlp.sending_queue.batch]
enabled = true
min_size = 2048
flush_timeout = "50ms"`, queueDir, fsync)
	}
	return fmt.Sprintf(`
[otlp]
shutdown_timeout = "20s"
[admin]
endpoint = %q
[receivers.otlp.grpc]
endpoint = %q
[receivers.otlp.http]
endpoint = ""
[exporters.otlp]
%s
compression = "none"
timeout = "1s"
tls = { insecure = true }
[exporters.otlp.retry]
initial_interval = "50ms"
max_interval = "500ms"
max_elapsed_time = "0s"
[exporters.otlp.sending_queue]
num_consumers = 4
%s
[pipelines.traces]
receivers = ["otlp"]
exporters = ["otlp"]
`, admin, grpc, ep, queue)
}

// step is a fault injected once the client has this fraction of its requests acknowledged.
type step struct {
	at    float64
	fault string // its name in CHAOS_SKIP
	what  string
	do    func(t *testing.T)
}

func runScenario(t *testing.T, mode string) result {
	requests := envInt("CHAOS_REQUESTS", 2000)
	spansPer := envInt("CHAOS_SPANS", 50)
	rate := envInt("CHAOS_RATE", 100) // requests per second
	dir := t.TempDir()
	// Sending and faults run together, bounded in time; a process that dies on its own ends
	// the run at once.
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var died atomic.Bool
	crashed := func(name string, err error) {
		t.Errorf("%s exited on its own: %v", name, err)
		died.Store(true)
		cancel()
	}

	colA := newNode(t, dir, "collector-a", serverBin)
	colB := newNode(t, dir, "collector-b", serverBin)
	agent := newNode(t, dir, "agent", agentBin)
	for _, n := range []*node{colA, colB, agent} {
		n.crashed = crashed
	}
	fileA, fileB := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	colA.writeConfig(t, collectorConfig(colA.admin, colA.grpc, fileA))
	colB.writeConfig(t, collectorConfig(colB.admin, colB.grpc, fileB))
	proxyB := testutil.NewTCPProxy(t, colB.grpc)
	queueDir := filepath.Join(dir, "queue")
	endpoints := []string{colA.grpc, proxyB.Addr()}
	agent.writeConfig(t, agentConfig(agent.admin, agent.grpc, endpoints, queueDir, mode))
	colA.start(t)
	colB.start(t)
	agent.start(t)

	c, err := newClient(agent.grpc, requests, spansPer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()

	begin := time.Now()
	logf := func(format string, args ...any) {
		t.Logf("%6.2fs acked=%d/%d: %s", time.Since(begin).Seconds(), c.nAcked.Load(), requests, fmt.Sprintf(format, args...))
	}
	steps := []step{
		{0.10, "stop", "stop collector A (SIGTERM)", func(t *testing.T) {
			if err := colA.stop(t, syscall.SIGTERM, 20*time.Second); err != nil {
				t.Errorf("collector A: %v", err)
			}
		}},
		{0.25, "kill", "kill -9 the agent, restart it on the same queue", func(t *testing.T) {
			_ = agent.stop(t, syscall.SIGKILL, 10*time.Second)
			agent.start(t)
		}},
		{0.40, "stop", "restart collector A", colA.start},
		{0.50, "kill-collector", "kill -9 collector A, restart it", func(t *testing.T) {
			_ = colA.stop(t, syscall.SIGKILL, 10*time.Second)
			colA.start(t)
		}},
		{0.60, "blackhole", "blackhole collector B behind its proxy", func(*testing.T) { proxyB.Blackhole() }},
		{0.80, "blackhole", "resume collector B", func(*testing.T) { proxyB.Resume() }},
	}

	sent := make(chan struct{})
	go func() {
		defer close(sent)
		c.run(ctx, rate, 8)
	}()
	defer func() { cancel(); <-sent }() // also when a step fails the test
	// CHAOS_SKIP=stop,kill,blackhole leaves faults out, to tell their effects apart.
	skip := strings.Split(os.Getenv("CHAOS_SKIP"), ",")
	for _, s := range steps {
		if slices.Contains(skip, s.fault) {
			continue
		}
		if err := c.waitAcked(ctx, int(s.at*float64(requests))); err != nil {
			break
		}
		logf("%s", s.what)
		s.do(t)
	}
	<-sent
	logf("client done: %d attempts for %d requests", c.attempts.Load(), requests)
	mctx, mcancel := context.WithTimeout(t.Context(), 5*time.Second)
	logf("agent metrics:\n%s", agent.metrics(mctx, "otlp_dropped_spans", "otlp_refused_spans", "otlp_exported_spans", "otlp_queue_size"))
	mcancel()
	if int(c.nAcked.Load()) != requests {
		t.Errorf("only %d of %d requests acknowledged in time", c.nAcked.Load(), requests)
	}

	// Wait until everything acknowledged has reached a collector, or nothing new has arrived
	// for a while (what is missing then is lost), then stop all.
	tl := newTally()
	tails := []*tailer{{path: fileA}, {path: fileB}}
	deadline, lastLines, lastChange := time.Now().Add(60*time.Second), -1, time.Now()
	for {
		for _, tf := range tails {
			if err := tf.read(tl); err != nil {
				t.Fatal(err)
			}
		}
		_, missing := score(c, tl)
		if len(missing) == 0 {
			logf("every acknowledged span id has reached a collector")
			break
		}
		if lastLines < 0 {
			logf("%d acknowledged requests not delivered yet (first 20: %v)", len(missing), missing[:min(20, len(missing))])
		}
		if tl.lines != lastLines {
			lastLines, lastChange = tl.lines, time.Now()
		}
		if died.Load() || time.Now().After(deadline) || time.Since(lastChange) > 10*time.Second {
			break
		}
		time.Sleep(200 * time.Millisecond) // the collectors write files: nothing to wait on
	}
	if _, missing := score(c, tl); len(missing) > 0 {
		logf("%d acknowledged requests not delivered before the agent's shutdown (first 20: %v)", len(missing), missing[:min(20, len(missing))])
	}
	mctx, mcancel = context.WithTimeout(t.Context(), 5*time.Second)
	logf("agent metrics:\n%s", agent.metrics(mctx, "otlp_dropped_spans", "otlp_refused_spans", "otlp_exported_spans", "otlp_queue_size"))
	mcancel()
	if err := agent.stop(t, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("agent exit: %v", err)
	}
	for _, n := range []*node{colA, colB} {
		if err := n.stop(t, syscall.SIGTERM, 20*time.Second); err != nil {
			t.Errorf("%s exit: %v", n.name, err)
		}
	}
	for _, n := range []*node{colA, colB, agent} {
		if n.logHas("panic") || n.logHas("DATA RACE") {
			t.Errorf("%s: panic or race in the log", n.name)
			n.dumpLog(t)
		}
	}

	// Count from scratch, from the files as the collectors left them.
	final := newTally()
	finalA, finalB := &tailer{path: fileA}, &tailer{path: fileB}
	for _, tf := range []*tailer{finalA, finalB} {
		if err := tf.read(final); err != nil {
			t.Fatal(err)
		}
	}
	r, lostReqs := score(c, final)
	if len(lostReqs) > 0 {
		t.Logf("requests with lost spans (first 20): %v", lostReqs[:min(20, len(lostReqs))])
	}
	if d := duplicateRanges(c, final); len(d) > 0 {
		logf("requests sent more than once (first-last:+extra spans): %v", d)
	}
	logf("collector A got %d spans, collector B %d; %d requests; %s", finalA.spans, finalB.spans, final.lines, r)
	return r
}
