package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

var binary string

func TestMain(m *testing.M) {
	bin, cleanup, err := testutil.BuildMain("otlp-server")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// proc is a running otlp-server whose stderr is captured.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), done: make(chan error, 1)}
	p.cmd.Stderr = p
	p.cmd.Env = append(os.Environ(), "OTLP_CONFIG_PATH=")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("server log:\n%s", p.log())
		}
	})
	return p
}

// waitHTTP polls url until it answers want or the deadline passes.
func waitHTTP(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling an external process's port: nothing to wait on
	}
	t.Fatalf("%s never answered %d", url, want)
}

func writeConfig(t *testing.T, path, grpcAddr, httpAddr, adminAddr, upstream string) {
	t.Helper()
	cfg := fmt.Sprintf(`
[otlp]
log_level = "info"
log_format = "json"
[admin]
endpoint = %q
[receivers.otlp.grpc]
endpoint = %q
[receivers.otlp.http]
endpoint = %q
[exporters.otlp]
endpoint = %q
tls = { insecure = true }
[pipelines.traces]
receivers = ["otlp"]
processors = ["batch"]
exporters = ["otlp"]
[processors.batch]
timeout = "50ms"
`, adminAddr, grpcAddr, httpAddr, upstream)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func telemetrygen(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("telemetrygen")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("telemetrygen is required in CI: `make tools` installs it")
		}
		t.Skip("telemetrygen not installed (run `make tools`); skipping")
	}
	return path
}

// TestProcessTelemetrygenReloadAndDrain runs the built binary: telemetrygen sends spans, an
// invalid configuration is rejected while the server keeps serving, SIGHUP reloads, and SIGTERM
// drains everything to the upstream before a clean exit.
func TestProcessTelemetrygenReloadAndDrain(t *testing.T) {
	tg := telemetrygen(t)
	sink := testutil.NewSink(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "otlp.toml")
	grpcAddr, httpAddr, adminAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	writeConfig(t, path, grpcAddr, httpAddr, adminAddr, sink.GRPCAddr)
	p := start(t, "--config", path)
	waitHTTP(t, "http://"+adminAddr+"/ready", 200)

	gen := func(traces int) {
		out, err := exec.Command(tg, "traces", "--otlp-insecure", "--otlp-endpoint", grpcAddr,
			"--traces", fmt.Sprint(traces), "--workers", "1", "--rate", "0").CombinedOutput()
		if err != nil {
			t.Fatalf("telemetrygen: %v\n%s", err, out)
		}
	}
	gen(500) // 2 spans per trace (a parent and a child)

	// An invalid file is rejected; the server keeps serving on the old configuration.
	if err := os.WriteFile(path, []byte("[exporters.otlp]\nendpont = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "configuration rejected")
	gen(500)

	// A valid file that changes the upstream: the reload must take effect, so what is sent
	// next reaches the second upstream only.
	second := testutil.NewSink(t)
	writeConfig(t, path, grpcAddr, httpAddr, adminAddr, second.GRPCAddr)
	waitLog(t, p, "configuration reloaded")
	gen(500)
	// SIGHUP re-reads the file too.
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "configuration unchanged")

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit 30s after SIGTERM")
	}
	if got, got2 := sink.Items(pipeline.SignalTraces), second.Items(pipeline.SignalTraces); got != 2000 || got2 != 1000 {
		t.Fatalf("first upstream got %d spans (want 2000, before the reload), second %d (want 1000, after)", got, got2)
	}
	if strings.Contains(p.log(), "panic") {
		t.Fatal("panic in log")
	}
}

func waitLog(t *testing.T, p *proc, sub string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.log(), sub) {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling another process's output
	}
	t.Fatalf("log never said %q", sub)
}

// TestCheckConfig covers --check-config for a good and a bad file.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("[otlp.transport]\nendpoints = [\"127.0.0.1:4317\"]\n"), 0o600)
	os.WriteFile(bad, []byte("[processors.batch]\ntimeout = \"-1s\"\n[pipelines.traces]\nreceivers=[\"otlp\"]\nexporters=[\"nope\"]\n"), 0o600)
	var out, errb bytes.Buffer
	if err := runMain([]string{"--check-config", good}, &out, &errb); err != nil {
		t.Fatalf("good file: %v", err)
	}
	err := runMain([]string{"--check-config", bad}, &out, &errb)
	if err == nil {
		t.Fatal("bad file accepted")
	}
	for _, want := range []string{"processors.batch.timeout", `pipelines.traces.exporters: "nope" is not configured`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// TestDefaultsNeedNoFile starts the binary with no configuration on free ports (through the
// environment overrides) and checks that it serves /health and logs a batch summary.
func TestDefaultsNeedNoFile(t *testing.T) {
	grpcAddr, httpAddr, adminAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	p := &proc{cmd: exec.Command(binary), done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "OTLP_CONFIG_PATH=", "OTLP_GRPC_ENDPOINT="+grpcAddr, "OTLP_HTTP_ENDPOINT="+httpAddr, "OTLP_ADMIN_ENDPOINT="+adminAddr)
	p.cmd.Stderr = p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	defer func() { _ = p.cmd.Process.Kill(); <-p.done }()
	waitHTTP(t, "http://"+adminAddr+"/health", 200)
	resp, err := http.Post("http://"+httpAddr+"/v1/traces", "application/json", strings.NewReader(
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"hello"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/traces = %d", resp.StatusCode)
	}
	waitLog(t, p, "signal=traces items=1")
}

// TestCheckConfigFindsWhatStartupRejects: --check-config loads what start-up loads, so a file
// it accepts does not fail at start for a certificate, a key, a token file or an address.
func TestCheckConfigFindsWhatStartupRejects(t *testing.T) {
	ca := testutil.NewCA(t)
	a, b := ca.Issue(t, "a", "localhost"), ca.Issue(t, "b", "localhost")
	dir := t.TempDir()
	token, empty := filepath.Join(dir, "token"), filepath.Join(dir, "empty")
	os.WriteFile(token, []byte("s3cret\n"), 0o600)
	os.WriteFile(empty, []byte("\n"), 0o600)
	recv := func(extra string) string {
		return "[admin]\nendpoint = \"127.0.0.1:18080\"\n[receivers.otlp]\n" + extra +
			"\n[receivers.otlp.grpc]\nendpoint = \"127.0.0.1:14317\"\n[receivers.otlp.http]\nendpoint = \"127.0.0.1:14318\"\n" +
			"[exporters.debug]\n[pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"debug\"]\n"
	}
	tlsKeys := func(cert, key string) string {
		return fmt.Sprintf("tls = { cert_file = %q, key_file = %q }", cert, key)
	}
	for _, c := range []struct {
		name, file, want string
	}{
		{"valid", recv(tlsKeys(a.CertFile, a.KeyFile) + fmt.Sprintf("\nauth = { bearer_token_file = %q }", token)), ""},
		{"missing certificate", recv(tlsKeys(filepath.Join(dir, "nope.pem"), a.KeyFile)), "receivers.otlp: tls.cert_file"},
		{"key of another certificate", recv(tlsKeys(a.CertFile, b.KeyFile)), "private key does not match public key"},
		{"missing token file", recv(fmt.Sprintf("auth = { bearer_token_file = %q }", filepath.Join(dir, "none"))), "auth.bearer_token_file"},
		{"empty token file", recv(fmt.Sprintf("auth = { bearer_token_file = %q }", empty)), "is empty"},
		{"exporter CA missing", "[receivers.otlp]\n[exporters.otlp]\nendpoint = \"https://127.0.0.1:4317\"\ntls = { ca_file = \"" + filepath.Join(dir, "ca.pem") + "\" }\n" +
			"[pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"otlp\"]\n", "exporters.otlp: tls.ca_file"},
		{"listen clash", strings.Replace(recv(""), "127.0.0.1:14318", "localhost:14317", 1),
			"receivers.otlp.grpc.endpoint and receivers.otlp.http.endpoint both listen on port 14317"},
		{"admin certificate missing", strings.Replace(recv(""), "[admin]\n", "[admin]\n"+tlsKeys(filepath.Join(dir, "nope.pem"), a.KeyFile)+"\n", 1),
			"admin.tls.cert_file"},
		{"admin token file empty", strings.Replace(recv(""), "[admin]\n", fmt.Sprintf("[admin]\nauth = { bearer_token_file = %q }\n", empty), 1),
			"admin.auth.bearer_token_file"},
		{"admin token empty", strings.Replace(recv(""), "[admin]\n", "[admin]\nauth = { bearer_token = \"\" }\n", 1),
			"admin.auth.bearer_token: empty secret"},
		{"admin on every interface clashes", strings.Replace(recv(""), "127.0.0.1:18080", "0.0.0.0:14318", 1),
			"admin.endpoint and receivers.otlp.http.endpoint both listen on port 14318"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "otlp.toml")
			if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			err := runMain([]string{"--check-config", path}, &out, &errb)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("valid file rejected: %v", err)
			case c.want == "" && !strings.Contains(out.String(), "configuration is valid"):
				t.Fatalf("output %q", out.String())
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("--check-config: %v, want an error naming %q", err, c.want)
			}
		})
	}
}
