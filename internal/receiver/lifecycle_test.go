package receiver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

// postAsync posts from another goroutine and reports the status (0 on a transport error).
func postAsync(url string, body []byte) <-chan int {
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(url, ctProtobuf, bytes.NewReader(body))
		if err != nil {
			done <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitRefused waits until addr refuses connections: the listener is closed.
func waitRefused(t *testing.T, addr net.Addr) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			return
		}
		c.Close()
		runtime.Gosched()
	}
	t.Fatalf("%v still accepts connections", addr)
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	s := newSink()
	s.block, s.entered = make(chan struct{}), make(chan struct{}, 2)
	r, err := New(testConfig(), Settings{Traces: s, MetricsConsumer: s, Logs: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn := grpcClient(t, r.GRPCAddr(), nil)
	httpDone := postAsync(httpURL(r, pipeline.SignalTraces, "http"), tracesBody(t, 3, 0))
	grpcDone := make(chan error, 1)
	go func() {
		_, err := exportGRPC(context.Background(), conn, pipeline.SignalLogs, logsBody(t, 4))
		grpcDone <- err
	}()
	recv(t, s.entered, "first request in the pipeline")
	recv(t, s.entered, "second request in the pipeline")

	shutdownDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		shutdownDone <- r.Shutdown(ctx)
	}()
	waitRefused(t, r.HTTPAddr())
	waitRefused(t, r.GRPCAddr())
	select {
	case err := <-shutdownDone:
		t.Fatalf("Shutdown returned (%v) with requests in flight", err)
	default:
	}
	close(s.block) // the pipeline accepts
	if code := recv(t, httpDone, "HTTP response"); code != 200 {
		t.Errorf("in-flight HTTP request: status %d", code)
	}
	if err := recv(t, grpcDone, "gRPC response"); err != nil {
		t.Errorf("in-flight gRPC request: %v", err)
	}
	if err := recv(t, shutdownDone, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if s.count(pipeline.SignalTraces) != 3 || s.count(pipeline.SignalLogs) != 4 {
		t.Errorf("delivered %d spans, %d records; want 3 and 4", s.count(pipeline.SignalTraces), s.count(pipeline.SignalLogs))
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := r.Start(context.Background()); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
}

func TestShutdownHonoursDeadline(t *testing.T) {
	s := newSink()
	s.block, s.entered = make(chan struct{}), make(chan struct{}, 2)
	r, err := New(testConfig(), Settings{Traces: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn := grpcClient(t, r.GRPCAddr(), nil)
	httpDone := postAsync(httpURL(r, pipeline.SignalTraces, "http"), tracesBody(t, 1, 0))
	grpcDone := make(chan error, 1)
	go func() {
		_, err := exportGRPC(context.Background(), conn, pipeline.SignalTraces, tracesBody(t, 1, 0))
		grpcDone <- err
	}()
	recv(t, s.entered, "first request")
	recv(t, s.entered, "second request")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = r.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	// The blocked consumers saw their contexts cancelled; the clients got errors.
	if code := recv(t, httpDone, "HTTP response"); code == 200 {
		t.Error("HTTP request succeeded although it was cut off")
	}
	if err := recv(t, grpcDone, "gRPC response"); err == nil {
		t.Error("gRPC request succeeded although it was cut off")
	}
	if s.count(pipeline.SignalTraces) != 0 {
		t.Error("data delivered after the pipeline refused it")
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	r, err := New(testConfig(), Settings{Traces: newSink()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 2 {
		if err := r.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	}
	if r.GRPCAddr() != nil || r.HTTPAddr() != nil {
		t.Error("addresses set without Start")
	}
}

func TestStartFailsWhenPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, transport := range []string{"grpc", "http"} {
		cfg := testConfig()
		if transport == "grpc" {
			cfg.GRPC.Endpoint = l.Addr().String()
		} else {
			cfg.HTTP.Endpoint = l.Addr().String()
		}
		r, err := New(cfg, Settings{Traces: newSink()})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), transport+".endpoint") {
			t.Errorf("%s: Start = %v, want an error naming %s.endpoint", transport, err, transport)
		}
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

func TestUnservedSignals(t *testing.T) {
	s := newSink()
	r, err := New(testConfig(), Settings{Traces: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	conn := grpcClient(t, r.GRPCAddr(), nil)
	for _, sig := range []pipeline.Signal{pipeline.SignalMetrics, pipeline.SignalLogs} {
		if _, err := exportGRPC(context.Background(), conn, sig, body(t, sig, 1)); status.Code(err) != codes.Unimplemented {
			t.Errorf("%v over gRPC: %v, want Unimplemented", sig, err)
		}
		res := post(t, http.DefaultClient, httpURL(r, sig, "http"), ctProtobuf, body(t, sig, 1), nil)
		if res.status != 404 || !strings.Contains(decodeStatus(t, false, res.body).GetMessage(), "unknown path") {
			t.Errorf("%v over HTTP: %d", sig, res.status)
		}
	}
	if _, err := exportGRPC(context.Background(), conn, pipeline.SignalTraces, tracesBody(t, 2, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPConcurrencyLimit(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.MaxConcurrentRequests = 1
	s := newSink()
	s.block, s.entered = make(chan struct{}), make(chan struct{}, 1)
	r := startReceiver(t, cfg, s)
	url := httpURL(r, pipeline.SignalTraces, "http")
	first := postAsync(url, tracesBody(t, 1, 0))
	recv(t, s.entered, "first request")
	res := post(t, http.DefaultClient, url, ctProtobuf, tracesBody(t, 1, 0), nil)
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Errorf("over the limit: status %d, Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	close(s.block)
	if code := recv(t, first, "first response"); code != 200 {
		t.Errorf("first request: %d", code)
	}
}

func TestSelfMetrics(t *testing.T) {
	m := selftel.New()
	s := newSink()
	r, err := New(testConfig(), Settings{Metrics: m, Traces: s, MetricsConsumer: s, Logs: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn := grpcClient(t, r.GRPCAddr(), nil)
	if _, err := exportGRPC(context.Background(), conn, pipeline.SignalTraces, tracesBody(t, 10, 5)); err != nil {
		t.Fatal(err)
	}
	post(t, http.DefaultClient, httpURL(r, pipeline.SignalMetrics, "http"), ctProtobuf, metricsBody(t, 3), nil)
	post(t, http.DefaultClient, httpURL(r, pipeline.SignalLogs, "http"), ctProtobuf, []byte{0xff}, nil)
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"otlp_received_spans_total", map[string]string{"transport": "grpc"}, 8},
		{"otlp_dropped_spans_total", map[string]string{"reason": "invalid"}, 2},
		{"otlp_received_metric_points_total", map[string]string{"transport": "http"}, 3},
		{"otlp_requests_total", map[string]string{"transport": "grpc", "signal": "traces", "code": "OK"}, 1},
		{"otlp_requests_total", map[string]string{"transport": "http", "signal": "logs", "code": "400"}, 1},
		{"otlp_errors_total", map[string]string{"transport": "http", "signal": "logs", "reason": "malformed"}, 1},
	} {
		if got := metricValue(families, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Every connection opened was closed again by Shutdown... the gRPC client's may linger
	// until it notices, so only check the gauge exists and is not negative.
	for _, tr := range []string{"grpc", "http"} {
		if v := metricValue(families, "otlp_active_connections", map[string]string{"transport": tr}); v < 0 {
			t.Errorf("active %s connections %v", tr, v)
		}
	}
}

func metricValue(families []*dto.MetricFamily, name string, labels map[string]string) float64 {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}
