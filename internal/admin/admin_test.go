package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	m := selftel.New()
	m.Received(pipeline.SignalTraces, "grpc", 7)
	m.Request("grpc", pipeline.SignalTraces, "OK", 0)
	var ready atomic.Bool
	s := New(Config{Endpoint: "127.0.0.1:0"}, Settings{Gatherer: m.Registry, Version: "test", Ready: func(context.Context) Report {
		return Report{Ready: ready.Load(), Checks: []Check{{Name: "exporter/otlp", OK: ready.Load(), Detail: `dial "up:4317": <refused> & gone`}}}
	}})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	base := "http://" + s.Addr().String()

	if code, body := get(t, base+"/health"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("/health = %d %s", code, body)
	}
	code, body := get(t, base+"/ready")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/ready while failing = %d %s", code, body)
	}
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil || rep.Ready || len(rep.Checks) != 1 {
		t.Fatalf("/ready body %q: %v", body, err)
	}
	ready.Store(true)
	if code, _ := get(t, base+"/ready"); code != 200 {
		t.Fatalf("/ready when ready = %d", code)
	}
	code, body = get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, `otlp_received_spans_total{transport="grpc"} 7`) {
		t.Fatalf("/metrics = %d, missing received counter:\n%s", code, body)
	}
	for _, name := range []string{"otlp_latency_seconds", "otlp_requests_total", "otlp_dropped_spans_total", "go_goroutines"} {
		if !strings.Contains(body, "# HELP "+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	code, body = get(t, base+"/")
	if code != 200 || !strings.Contains(body, "exporter/otlp") || !strings.Contains(body, `class="ok">ready`) {
		t.Fatalf("console = %d %s", code, body)
	}
	// A check's detail (an error message: addresses, quotes) is escaped, never markup.
	if want := `dial &#34;up:4317&#34;: &lt;refused&gt; &amp; gone`; !strings.Contains(body, want) {
		t.Fatalf("console does not escape the detail as %s:\n%s", want, body)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal("second shutdown:", err)
	}
}

// TestConnectionBound: idle connections beyond max_connections wait in the backlog instead of
// being taken (and holding a file descriptor each); once one held connection closes, a waiting
// one is served.
func TestConnectionBound(t *testing.T) {
	s := New(Config{Endpoint: "127.0.0.1:0", MaxConnections: 2}, Settings{})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	addr := s.Addr().String()
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	// A third client: its request must not be served while both slots are held. The deadline
	// only bounds the wait for an answer that never comes.
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if _, err := io.WriteString(third, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = third.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, err := third.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Fatal("a third connection was served while max_connections = 2 were held")
	}
	held[0].Close()
	_ = third.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(third).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("after a slot freed: %q %v, want the answer", line, err)
	}
}
