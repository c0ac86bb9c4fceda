// Package docs runs the shell commands that README.md and docs/*.md show, exactly as written,
// against the zero-config server. It runs in a network and mount namespace of its own: the
// default ports (4317, 4318, 8080) are free there, the example host names (collector.example.com,
// collector-1, collector-2) resolve to loopback addresses where a test collector listens, and
// what the commands write (otlp.toml, the agent's queue directory) goes to an overlay that
// disappears with the namespace.
package docs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nsEnv marks the re-executed test binary that runs inside the namespace.
const nsEnv = "OTLP_DOCS_TEST_NAMESPACE"

// Commands the docs show that this test does not run, and why.
var notRun = map[string]string{
	"make test":               "it is the command that runs this test",
	"bash bench/collector.sh": "a benchmark of several minutes against the Collector: run by hand (docs/benchmarks.md)",
	"bash bench/agent.sh":     "a benchmark of several minutes against the Collector: run by hand (docs/benchmarks.md)",
	"BENCH_SHAPES=processors,tail-sampling bash bench/collector.sh": "two shapes of the benchmark against the Collector, several minutes: run by hand (docs/benchmarks.md)",
	"bash bench/amplify.sh":                             "a benchmark against the Collector: run by hand (docs/benchmarks.md)",
	"go run ./bench/sdk -only ours -cpuprofile cpu.out": "a benchmark with a CPU profile: run by hand (docs/sdk.md)",
}

// The commands the scenarios below run, by the name the scenarios use.
var (
	cmdServer      = "go run ./cmd/otlp-server"
	cmdTelemetrygn = "go run github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v0.161.0 traces --otlp-insecure --traces 10"
	cmdQuickstart  = "go run ./examples/quickstart"
	cmdAgent       = "OTLP_COLLECTOR_ENDPOINT=http://localhost:4317 OTLP_GRPC_ENDPOINT=localhost:14317 OTLP_HTTP_ENDPOINT=localhost:14318 OTLP_ADMIN_ENDPOINT=localhost:18080 go run ./cmd/otlp-agent"
	cmdToAgent     = "go run github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v0.161.0 traces --otlp-insecure --otlp-endpoint localhost:14317 --traces 10"
	cmdForwardFile = "go run ./cmd/otlp-server --config otlp.toml"
	cmdForwardEnv  = "OTLP_TRANSPORT_ENDPOINTS=http://collector.example.com:4317 go run ./cmd/otlp-server"
	cmdCheck       = "go run ./cmd/otlp-server --check-config otlp.toml"
	cmdCollectors  = "OTLP_COLLECTOR_ENDPOINT=http://collector-1:4317,http://collector-2:4317 go run ./cmd/otlp-agent"
	cmdBenchHelp   = "go run ./bench/cmd/collectorbench -h"
	runCommands    = []string{cmdServer, cmdTelemetrygn, cmdQuickstart, cmdAgent, cmdToAgent, cmdForwardFile, cmdForwardEnv, cmdCheck, cmdCollectors, cmdBenchHelp}
)

// The example hosts of the docs and the loopback addresses their collectors listen on.
const (
	upstreamIP   = "127.0.0.2" // collector.example.com, collector-1
	collector2IP = "127.0.0.3" // collector-2
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

type shown struct{ file, text string }

var (
	fenceRe  = regexp.MustCompile("(?ms)^```([a-z]*)\n(.*?)^```")
	inlineRe = regexp.MustCompile("`(go run \\./[^`]+)`")
	spaceRe  = regexp.MustCompile(`\s+`)
)

// documented returns every command README.md and docs/*.md show: each line of a sh, bash or
// shell block (continuation lines joined, comments dropped), each "$ " line of a console block,
// and each inline `go run ./...`.
func documented(t *testing.T, root string) []shown {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var out []shown
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		text := string(b)
		for _, m := range fenceRe.FindAllStringSubmatch(text, -1) {
			body := strings.ReplaceAll(m[2], "\\\n", " ")
			for _, line := range strings.Split(body, "\n") {
				switch m[1] {
				case "sh", "bash", "shell":
				case "console":
					var ok bool
					if line, ok = strings.CutPrefix(line, "$ "); !ok {
						continue
					}
				default:
					continue
				}
				if i := strings.Index(line, " #"); i >= 0 {
					line = line[:i]
				}
				if line = strings.TrimSpace(spaceRe.ReplaceAllString(line, " ")); line != "" && !strings.HasPrefix(line, "#") {
					out = append(out, shown{rel, line})
				}
			}
		}
		for _, m := range inlineRe.FindAllStringSubmatch(fenceRe.ReplaceAllString(text, ""), -1) {
			out = append(out, shown{rel, spaceRe.ReplaceAllString(m[1], " ")})
		}
	}
	return out
}

// README's "# otlp.toml" block, as written.
func readmeTOML(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range fenceRe.FindAllStringSubmatch(string(b), -1) {
		if m[1] == "toml" && strings.HasPrefix(m[2], "# otlp.toml\n") {
			return m[2]
		}
	}
	t.Fatal("README.md has no ```toml block starting with # otlp.toml")
	return ""
}

func TestDocsCommands(t *testing.T) {
	root := repoRoot(t)
	cmds := documented(t, root)
	known := map[string]bool{}
	for _, c := range runCommands {
		known[c] = true
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		seen[c.text] = true
		if !known[c.text] && notRun[c.text] == "" {
			t.Errorf("%s shows %q, which no scenario of this test runs: add it to one, or to notRun with the reason", c.file, c.text)
		}
	}
	for _, c := range append(runCommands, keys(notRun)...) {
		if !seen[c] {
			t.Errorf("no document shows %q any more: take it out of this test", c)
		}
	}
	if t.Failed() {
		return
	}
	if os.Getenv(nsEnv) != "1" {
		reexecInNamespace(t, root)
		return
	}
	runScenarios(t, root)
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// absent skips the test, or fails it when CI=true: there, everything it needs must be present.
func absent(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; skipping")
}

func reexecInNamespace(t *testing.T, root string) {
	if os.Geteuid() != 0 {
		absent(t, "the docs commands run in a network namespace of their own, which needs root (unshare -n)")
	}
	for _, tool := range []string{"unshare", "ip", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			absent(t, "%s not found: the docs commands need it", tool)
		}
	}
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	zip := filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download", "github.com", "open-telemetry",
		"opentelemetry-collector-contrib", "cmd", "telemetrygen", "@v", "v0.161.0.zip")
	if _, err := os.Stat(zip); err != nil {
		// The namespace has no network: the module must be in the cache already.
		absent(t, "telemetrygen v0.161.0 is not in the module cache (make tools puts it there)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		hosts = []byte("127.0.0.1 localhost\n::1 localhost\n")
	}
	hosts = append(hosts, fmt.Sprintf("\n%s collector.example.com collector-1\n%s collector-2\n", upstreamIP, collector2IP)...)
	hostsFile := filepath.Join(tmp, "hosts")
	for _, d := range []string{"upper", "work"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(hostsFile, hosts, 0o644); err != nil {
		t.Fatal(err)
	}
	const script = `set -e
ip link set lo up
mount -t overlay overlay -o "lowerdir=$DOCS_ROOT,upperdir=$DOCS_TMP/upper,workdir=$DOCS_TMP/work" "$DOCS_ROOT"
mount --bind "$DOCS_TMP/hosts" /etc/hosts
exec "$@"`
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--propagation", "private", "--fork", "--kill-child",
		"sh", "-c", script, "sh", exe, "-test.run=^TestDocsCommands$", "-test.v", "-test.timeout=11m")
	cmd.Dir = filepath.Join(root, "test", "docs")
	cmd.Env = append(os.Environ(), nsEnv+"=1", "DOCS_ROOT="+root, "DOCS_TMP="+tmp,
		// No network in the namespace: modules come from the cache, which is laid out as a proxy.
		"GOPROXY=file://"+filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download"))
	out, err := cmd.CombinedOutput()
	if bytes.Contains(out, []byte("--- SKIP")) && err == nil {
		t.Skipf("inside the namespace:\n%s", out)
	}
	if err != nil {
		t.Fatalf("docs commands in their namespace: %v\n%s", err, out)
	}
	t.Logf("docs commands in their namespace:\n%s", lastLines(out, 40))
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// proc is one documented command (or a collector standing in for an example host) running in
// its own process group, so that stopping it stops what `go run` started.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// cleanEnv is the test's environment without the variables the product reads, so a command
// sees only what it sets itself.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OTLP_") || strings.HasPrefix(kv, "OTEL_") || strings.HasPrefix(kv, "DOCS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func start(t *testing.T, root, name, command string, env ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command("sh", "-c", command), done: make(chan struct{})}
	p.cmd.Dir = root
	p.cmd.Env = cleanEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s (%s) printed:\n%s", p.name, command, lastLines([]byte(p.output()), 60))
		}
	})
	return p
}

// stop sends SIGTERM to the process group and waits; SIGKILL after 30 s.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30 s of SIGTERM", p.name)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// run runs a documented command to its end and returns what it printed.
func run(t *testing.T, root, command string) string {
	t.Helper()
	p := start(t, root, command, command)
	select {
	case <-p.done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("%q did not finish within 5 minutes", command)
	}
	if p.err != nil {
		t.Fatalf("%q: %v\n%s", command, p.err, p.output())
	}
	return p.output()
}

// eventually polls cond, which reads another process's state over HTTP: there is nothing to
// wait on but the answer. The deadline is generous because `go run` may compile first.
func eventually(t *testing.T, what string, d time.Duration, procs []*proc, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		for _, p := range procs {
			select {
			case <-p.done:
				t.Fatalf("%s: %s exited (%v) before that:\n%s", what, p.name, p.err, lastLines([]byte(p.output()), 40))
			default:
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last: %s)", what, d, last)
}

func healthy(t *testing.T, admin string, procs ...*proc) {
	t.Helper()
	eventually(t, admin+"/health answers 200", 4*time.Minute, procs, func() (bool, string) {
		resp, err := http.Get("http://" + admin + "/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// metric sums every series of a counter on an admin port's /metrics.
func metric(admin, name string) (float64, error) {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", name, line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

func metricSum(admins []string, name string) (float64, string) {
	var sum float64
	var state []string
	for _, a := range admins {
		v, err := metric(a, name)
		if err != nil {
			return -1, err.Error()
		}
		sum += v
		state = append(state, fmt.Sprintf("%s %s=%v", a, name, v))
	}
	return sum, strings.Join(state, ", ")
}

// atLeast waits until name summed over the admin ports reaches want.
func atLeast(t *testing.T, admins []string, name string, want float64, procs ...*proc) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s reaches %v", name, want), 2*time.Minute, procs, func() (bool, string) {
		v, state := metricSum(admins, name)
		return v >= want, state
	})
}

func current(t *testing.T, admins []string, name string) float64 {
	t.Helper()
	v, state := metricSum(admins, name)
	if v < 0 {
		t.Fatal(state)
	}
	return v
}

const (
	localAdmin = "localhost:8080"
	spansIn    = "otlp_received_spans_total"
	spansOut   = "otlp_exported_spans_total"
)

func runScenarios(t *testing.T, root string) {
	t.Run("zero-config server", func(t *testing.T) {
		server := start(t, root, "server", cmdServer)
		healthy(t, localAdmin, server)

		// telemetrygen's 10 spans reach the debug exporter.
		run(t, root, cmdTelemetrygn)
		atLeast(t, []string{localAdmin}, spansOut, 10, server)

		// The SDK with no settings reaches the server with no settings.
		out := run(t, root, cmdQuickstart)
		if !strings.Contains(out, "spans: 10 accepted, 10 exported") {
			t.Fatalf("quickstart printed %q, want 10 spans accepted and exported", out)
		}
		atLeast(t, []string{localAdmin}, spansOut, 20, server)
		atLeast(t, []string{localAdmin}, "otlp_exported_log_records_total", 10, server)

		// The agent beside it forwards what it receives.
		agent := start(t, root, "agent", cmdAgent)
		healthy(t, "localhost:18080", agent, server)
		run(t, root, cmdToAgent)
		atLeast(t, []string{"localhost:18080"}, spansOut, 10, agent, server)
		atLeast(t, []string{localAdmin}, spansOut, 30, agent, server)
	})

	// Collectors standing in for the docs' example hosts; listen_host moves their default
	// addresses (4317, 4318, 8080) to the host's loopback address.
	up := start(t, root, "collector.example.com / collector-1", cmdServer, "OTLP_LISTEN_HOST="+upstreamIP)
	c2 := start(t, root, "collector-2", cmdServer, "OTLP_LISTEN_HOST="+collector2IP)
	upAdmin, c2Admin := upstreamIP+":8080", collector2IP+":8080"
	healthy(t, upAdmin, up)
	healthy(t, c2Admin, c2)

	t.Run("forward to an upstream", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(root, "otlp.toml"), []byte(readmeTOML(t, root)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := run(t, root, cmdCheck); !strings.Contains(out, "configuration is valid") {
			t.Fatalf("--check-config printed %q", out)
		}
		for i, c := range []string{cmdForwardFile, cmdForwardEnv} {
			before := current(t, []string{upAdmin}, spansIn)
			server := start(t, root, "forwarding server", c)
			healthy(t, localAdmin, server, up)
			run(t, root, cmdTelemetrygn)
			atLeast(t, []string{upAdmin}, spansIn, before+10, server, up)
			server.stop(t)
			if i == 0 {
				// The next command must find its upstream without the file.
				if err := os.Remove(filepath.Join(root, "otlp.toml")); err != nil {
					t.Fatal(err)
				}
			}
		}
	})

	t.Run("agent with two collectors", func(t *testing.T) {
		admins := []string{upAdmin, c2Admin}
		before := current(t, admins, spansIn)
		agent := start(t, root, "agent", cmdCollectors)
		healthy(t, localAdmin, agent, up, c2)
		run(t, root, cmdTelemetrygn)
		atLeast(t, admins, spansIn, before+10, agent, up, c2)
	})

	t.Run("bench driver flags", func(t *testing.T) {
		if out := run(t, root, cmdBenchHelp); !strings.Contains(out, "-telemetrygen") {
			t.Fatalf("%q printed %q, want its flags", cmdBenchHelp, out)
		}
	})
}
