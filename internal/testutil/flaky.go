package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Action is what a FlakyServer does with one request.
type Action uint8

const (
	// ActAccept answers success (gRPC OK, HTTP 200).
	ActAccept Action = iota
	// ActDrop closes the connection without answering.
	ActDrop
	// ActDelay waits Behavior.Delay (or until the client gives up), then accepts.
	ActDelay
	// ActUnavailable answers gRPC Unavailable / HTTP 503, with RetryInfo / Retry-After when
	// Behavior.RetryAfter > 0.
	ActUnavailable
	// ActThrottle answers gRPC ResourceExhausted with RetryInfo / HTTP 429 with Retry-After.
	ActThrottle
	// ActReject answers gRPC InvalidArgument / HTTP 400: not retryable.
	ActReject
)

var actionNames = [...]string{"accept", "drop", "delay", "unavailable", "throttle", "reject"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Behavior is one scripted answer.
type Behavior struct {
	Action     Action
	Delay      time.Duration // ActDelay
	RetryAfter time.Duration // ActUnavailable, ActThrottle (HTTP rounds up to whole seconds)
}

// Accept answers success.
func Accept() Behavior { return Behavior{Action: ActAccept} }

// Drop closes the connection.
func Drop() Behavior { return Behavior{Action: ActDrop} }

// Delay accepts after d.
func Delay(d time.Duration) Behavior { return Behavior{Action: ActDelay, Delay: d} }

// Unavailable answers Unavailable / 503, asking for retryAfter when > 0.
func Unavailable(retryAfter time.Duration) Behavior {
	return Behavior{Action: ActUnavailable, RetryAfter: retryAfter}
}

// Throttle answers ResourceExhausted with RetryInfo / 429 with Retry-After.
func Throttle(retryAfter time.Duration) Behavior {
	return Behavior{Action: ActThrottle, RetryAfter: retryAfter}
}

// Reject answers InvalidArgument / 400.
func Reject() Behavior { return Behavior{Action: ActReject} }

// FlakyRequest is one request a FlakyServer answered.
type FlakyRequest struct {
	Transport string // "grpc" or "http"
	Signal    pipeline.Signal
	Action    Action
	Items     int // decoded item count (0 when the body did not decode)
}

// FlakyServer is an OTLP gRPC and HTTP server (protobuf bodies) that answers each request with
// the next scripted Behavior, and with the default one once the script is used up.
type FlakyServer struct {
	GRPCAddr string // host:port
	HTTPURL  string // http://host:port

	mu       sync.Mutex
	script   []Behavior     // guarded by mu
	def      Behavior       // guarded by mu
	requests []FlakyRequest // guarded by mu
	changed  chan struct{}  // guarded by mu; closed and replaced on every request
	conns    connSet
}

// NewFlakyServer starts a server that accepts until scripted otherwise; it stops when the
// test ends.
func NewFlakyServer(t testing.TB) *FlakyServer {
	t.Helper()
	f := &FlakyServer{changed: make(chan struct{}), conns: connSet{m: map[string]net.Conn{}}}

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ForceServerCodecV2(grpcraw.Codec{}), grpc.UnknownServiceHandler(f.serveGRPC))
	f.GRPCAddr = gl.Addr().String()

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(f.serveHTTP)}
	f.HTTPURL = "http://" + hl.Addr().String()

	var wg sync.WaitGroup
	wg.Go(func() { _ = gs.Serve(&trackingListener{Listener: gl, set: &f.conns}) })
	wg.Go(func() { _ = hs.Serve(hl) })
	t.Cleanup(func() {
		gs.Stop()
		_ = hs.Close()
		wg.Wait()
	})
	return f
}

// Script queues behaviours for the next requests, in order, on either transport.
func (f *FlakyServer) Script(bs ...Behavior) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, bs...)
}

// SetDefault sets the behaviour used once the script is empty (initially Accept).
func (f *FlakyServer) SetDefault(b Behavior) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.def = b
}

// Requests lists the requests answered so far, in order.
func (f *FlakyServer) Requests() []FlakyRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// AcceptedItems sums the items of requests answered with success.
func (f *FlakyServer) AcceptedItems() int {
	n := 0
	for _, r := range f.Requests() {
		if r.Action == ActAccept || r.Action == ActDelay {
			n += r.Items
		}
	}
	return n
}

// WaitRequests blocks until n requests were answered, or ctx ends.
func (f *FlakyServer) WaitRequests(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		got, ch := len(f.requests), f.changed
		f.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("flaky server: %d of %d requests: %w", got, n, ctx.Err())
		}
	}
}

// next pops the behaviour for a request and records the request.
func (f *FlakyServer) next(transport string, sig pipeline.Signal, body []byte) Behavior {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.def
	if len(f.script) > 0 {
		b, f.script = f.script[0], f.script[1:]
	}
	f.requests = append(f.requests, FlakyRequest{Transport: transport, Signal: sig, Action: b.Action, Items: countItems(sig, body)})
	close(f.changed)
	f.changed = make(chan struct{})
	return b
}

func (f *FlakyServer) serveGRPC(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	var sig pipeline.Signal
	switch method {
	case grpcraw.TracesMethod:
		sig = pipeline.SignalTraces
	case grpcraw.MetricsMethod:
		sig = pipeline.SignalMetrics
	case grpcraw.LogsMethod:
		sig = pipeline.SignalLogs
	default:
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	var req grpcraw.Frame
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	ctx := stream.Context()
	b := f.next("grpc", sig, req.Body)
	switch b.Action {
	case ActDrop:
		if p, ok := peer.FromContext(ctx); ok {
			f.conns.close(p.Addr.String())
		}
		return status.Error(codes.Unavailable, "connection dropped")
	case ActDelay:
		if err := wait(ctx, b.Delay); err != nil {
			return status.FromContextError(err).Err()
		}
	case ActUnavailable:
		return grpcError(codes.Unavailable, "scripted: unavailable", b.RetryAfter)
	case ActThrottle:
		return grpcError(codes.ResourceExhausted, "scripted: throttled", b.RetryAfter)
	case ActReject:
		return status.Error(codes.InvalidArgument, "scripted: rejected")
	}
	return stream.SendMsg(&grpcraw.Frame{})
}

func grpcError(code codes.Code, msg string, retryAfter time.Duration) error {
	st := status.New(code, msg)
	if retryAfter > 0 {
		if ds, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); err == nil {
			st = ds
		}
	}
	return st.Err()
}

func (f *FlakyServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var sig pipeline.Signal
	switch r.URL.Path {
	case "/v1/traces":
		sig = pipeline.SignalTraces
	case "/v1/metrics":
		sig = pipeline.SignalMetrics
	case "/v1/logs":
		sig = pipeline.SignalLogs
	default:
		http.NotFound(w, r)
		return
	}
	body, _, err := readBody(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b := f.next("http", sig, body)
	retryAfter := func() {
		if b.RetryAfter > 0 {
			secs := (b.RetryAfter + time.Second - 1) / time.Second
			w.Header().Set("Retry-After", strconv.Itoa(int(secs)))
		}
	}
	switch b.Action {
	case ActDrop:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return
			}
		}
		http.Error(w, "cannot drop", http.StatusInternalServerError)
		return
	case ActDelay:
		if wait(r.Context(), b.Delay) != nil {
			return
		}
	case ActUnavailable:
		retryAfter()
		http.Error(w, "scripted: unavailable", http.StatusServiceUnavailable)
		return
	case ActThrottle:
		retryAfter()
		http.Error(w, "scripted: throttled", http.StatusTooManyRequests)
		return
	case ActReject:
		http.Error(w, "scripted: rejected", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// wait is how a Delay behaviour holds a request: a real server taking its time.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func countItems(sig pipeline.Signal, body []byte) int {
	switch sig {
	case pipeline.SignalTraces:
		r := ptraceotlp.NewExportRequest()
		if r.UnmarshalProto(body) == nil {
			return r.Traces().SpanCount()
		}
	case pipeline.SignalMetrics:
		r := pmetricotlp.NewExportRequest()
		if r.UnmarshalProto(body) == nil {
			return r.Metrics().DataPointCount()
		}
	case pipeline.SignalLogs:
		r := plogotlp.NewExportRequest()
		if r.UnmarshalProto(body) == nil {
			return r.Logs().LogRecordCount()
		}
	}
	return 0
}

// connSet tracks a listener's open connections by remote address so one can be dropped.
type connSet struct {
	mu sync.Mutex
	m  map[string]net.Conn // guarded by mu
}

func (s *connSet) close(remote string) {
	s.mu.Lock()
	c := s.m[remote]
	delete(s.m, remote)
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

type trackingListener struct {
	net.Listener
	set *connSet
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.set.mu.Lock()
	l.set.m[c.RemoteAddr().String()] = c
	l.set.mu.Unlock()
	return &trackedConn{Conn: c, set: l.set}, nil
}

type trackedConn struct {
	net.Conn
	set  *connSet
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.m, c.RemoteAddr().String())
		c.set.mu.Unlock()
	})
	err := c.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
