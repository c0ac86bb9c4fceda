//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// node is one otlp-server or otlp-agent process that can be stopped and started again on the
// same configuration, ports and files.
type node struct {
	name  string
	bin   string
	cfg   string // configuration file
	admin string // admin host:port (/health)
	grpc  string // OTLP/gRPC host:port
	log   string // stderr of every run, appended
	p     *proc  // the current run; nil when stopped
	runs  int
	// crashed, when set, is called (from another goroutine) when a run exits without stop.
	crashed func(name string, err error)
}

// proc is one run of a node's binary.
type proc struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited and err is set
	err      error
	expected atomic.Bool // the exit was asked for
}

func newNode(t *testing.T, dir, name, bin string) *node {
	t.Helper()
	n := &node{name: name, bin: bin, cfg: filepath.Join(dir, name+".toml"), log: filepath.Join(dir, name+".log"),
		admin: freeAddr(t), grpc: freeAddr(t)}
	t.Cleanup(func() {
		if n.p != nil {
			n.p.expected.Store(true)
			_ = n.p.cmd.Process.Kill()
			<-n.p.done
		}
		if t.Failed() || os.Getenv("CHAOS_LOGS") != "" {
			n.dumpLog(t)
		}
	})
	return n
}

// freeAddr reserves a port by listening on it and closing: the nodes keep their ports across
// restarts, so they cannot listen on port 0.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (n *node) writeConfig(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(n.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs the binary and waits until its admin port answers /health.
func (n *node) start(t *testing.T) {
	t.Helper()
	if n.p != nil {
		t.Fatalf("%s: already running", n.name)
	}
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	n.runs++
	fmt.Fprintf(logf, "=== run %d\n", n.runs)
	cmd := exec.Command(n.bin, "--config", n.cfg)
	cmd.Env = append(os.Environ(), "OTLP_CONFIG_PATH=", "OTLP_COLLECTOR_ENDPOINT=", "OTLP_TRANSPORT_ENDPOINTS=")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("%s: %v", n.name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	crashed := n.crashed
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
		if !p.expected.Load() && crashed != nil {
			crashed(n.name, p.err)
		}
	}()
	n.p = p
	if err := waitHealthy(n.admin, p.done, 20*time.Second); err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
}

// waitHealthy polls the admin /health endpoint of a starting process.
func waitHealthy(admin string, exited <-chan struct{}, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + admin + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("exited while starting")
		case <-time.After(20 * time.Millisecond): // another process's port: nothing to wait on
		}
	}
	return fmt.Errorf("/health not answering after %s", limit)
}

// stop sends sig and waits up to limit for the exit; SIGKILL follows if it does not come.
// It returns the process's exit error (nil for a clean exit).
func (n *node) stop(t *testing.T, sig syscall.Signal, limit time.Duration) error {
	t.Helper()
	p := n.p
	if p == nil {
		t.Fatalf("%s: not running", n.name)
	}
	n.p = nil
	p.expected.Store(true)
	select {
	case <-p.done:
		return fmt.Errorf("%s had already exited: %v", n.name, p.err)
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: signal: %v", n.name, err)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s: no exit %s after %s", n.name, limit, sig)
	}
}

// metrics returns the lines of the node's /metrics that start with one of prefixes.
func (n *node) metrics(ctx context.Context, prefixes ...string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.admin+"/metrics", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err.Error()
	}
	var out []string
	for line := range strings.Lines(buf.String()) {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) && !strings.HasSuffix(strings.TrimSpace(line), " 0") {
				out = append(out, strings.TrimSpace(line))
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// dumpLog prints the tail of the node's log into the test output.
func (n *node) dumpLog(t *testing.T) {
	data, err := os.ReadFile(n.log)
	if err != nil {
		t.Logf("%s log: %v", n.name, err)
		return
	}
	const tail = 8 << 10
	if len(data) > tail {
		data = data[len(data)-tail:]
	}
	t.Logf("%s log (tail):\n%s", n.name, data)
}

// logHas reports whether the node's log contains s.
func (n *node) logHas(s string) bool {
	data, _ := os.ReadFile(n.log)
	return bytes.Contains(data, []byte(s))
}
