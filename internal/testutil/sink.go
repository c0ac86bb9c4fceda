package testutil

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // the sink must accept gzip requests
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// SinkRequest describes one request a Sink received.
type SinkRequest struct {
	Transport string // "grpc" or "http"
	Signal    pipeline.Signal
	// Headers are the gRPC metadata or HTTP headers, keys in lower case.
	Headers map[string][]string
	// Encoding is "proto" or "json".
	Encoding string
	// Compressed is true when the body arrived gzip-compressed.
	Compressed bool
	Items      int
}

// Sink is a real OTLP server (gRPC and HTTP, on 127.0.0.1) that keeps everything it receives.
type Sink struct {
	// GRPCAddr is host:port of the OTLP/gRPC server.
	GRPCAddr string
	// HTTPURL is the base URL of the OTLP/HTTP server (paths /v1/traces, /v1/metrics, /v1/logs).
	HTTPURL string

	mu       sync.Mutex
	traces   []ptrace.Traces   // guarded by mu
	metrics  []pmetric.Metrics // guarded by mu
	logs     []plog.Logs       // guarded by mu
	requests []SinkRequest     // guarded by mu
	items    [4]int            // guarded by mu; per signal
	rejected int64             // guarded by mu; partial success to answer with
	message  string            // guarded by mu
	changed  chan struct{}     // guarded by mu; closed and replaced on every arrival
}

// SinkOption configures NewSink.
type SinkOption func(*sinkOptions)

type sinkOptions struct{ tls *tls.Config }

// WithTLS serves both transports over TLS with cfg (see CA.ServerTLS).
func WithTLS(cfg *tls.Config) SinkOption { return func(o *sinkOptions) { o.tls = cfg } }

// NewSink starts a sink; it stops when the test ends.
func NewSink(t testing.TB, opts ...SinkOption) *Sink {
	t.Helper()
	var o sinkOptions
	for _, opt := range opts {
		opt(&o)
	}
	s := &Sink{changed: make(chan struct{})}

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	zd := &zstdDecompressor{}
	t.Cleanup(zd.close)
	// zstd per server (the pre-registry API) so that nothing is registered process-wide; gzip
	// comes from grpc's own registry.
	gopts := []grpc.ServerOption{grpc.StatsHandler(wireSizes{}), grpc.RPCDecompressor(zd)} //nolint:staticcheck
	if o.tls != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(o.tls)))
	}
	gs := grpc.NewServer(gopts...)
	ptraceotlp.RegisterGRPCServer(gs, &sinkTraces{s: s})
	pmetricotlp.RegisterGRPCServer(gs, &sinkMetrics{s: s})
	plogotlp.RegisterGRPCServer(gs, &sinkLogs{s: s})
	s.GRPCAddr = gl.Addr().String()

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if o.tls != nil {
		hl = tls.NewListener(hl, o.tls)
		scheme = "https"
	}
	hs := &http.Server{Handler: http.HandlerFunc(s.serveHTTP)}
	s.HTTPURL = scheme + "://" + hl.Addr().String()

	var wg sync.WaitGroup
	wg.Go(func() { _ = gs.Serve(gl) })
	wg.Go(func() { _ = hs.Serve(hl) })
	t.Cleanup(func() {
		gs.Stop()
		_ = hs.Close()
		wg.Wait()
	})
	return s
}

// SetPartialSuccess makes the sink answer every later request with a partial success that
// rejects n items with msg (it still keeps everything).
func (s *Sink) SetPartialSuccess(n int64, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected, s.message = n, msg
}

func (s *Sink) partial() (int64, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected, s.message
}

func (s *Sink) record(req SinkRequest, add func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	add()
	s.requests = append(s.requests, req)
	s.items[req.Signal] += req.Items
	close(s.changed)
	s.changed = make(chan struct{})
}

// Requests lists what arrived, in order.
func (s *Sink) Requests() []SinkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Traces returns every batch of traces received.
func (s *Sink) Traces() []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.traces)
}

// Metrics returns every batch of metrics received.
func (s *Sink) Metrics() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.metrics)
}

// Logs returns every batch of logs received.
func (s *Sink) Logs() []plog.Logs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logs)
}

// Items returns how many spans, data points or log records of sig arrived.
func (s *Sink) Items(sig pipeline.Signal) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items[sig]
}

// SpanIDs lists the ids of every span received, in arrival order.
func (s *Sink) SpanIDs() []pcommon.SpanID {
	var ids []pcommon.SpanID
	for _, td := range s.Traces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					ids = append(ids, sp.SpanID())
				}
			}
		}
	}
	return ids
}

// WaitItems blocks until at least n items of sig arrived, or ctx ends.
func (s *Sink) WaitItems(ctx context.Context, sig pipeline.Signal, n int) error {
	for {
		s.mu.Lock()
		got, ch := s.items[sig], s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sink: %d of %d %s arrived: %w", got, n, sig.ItemName(), ctx.Err())
		}
	}
}

// WaitSpans blocks until at least n spans arrived, or ctx ends.
func (s *Sink) WaitSpans(ctx context.Context, n int) error {
	return s.WaitItems(ctx, pipeline.SignalTraces, n)
}

// gRPC services.

type sinkTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	s *Sink
}

func (h *sinkTraces) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	h.s.record(grpcRequest(ctx, pipeline.SignalTraces, td.SpanCount()), func() { h.s.traces = append(h.s.traces, td) })
	resp := ptraceotlp.NewExportResponse()
	if n, msg := h.s.partial(); n > 0 {
		resp.PartialSuccess().SetRejectedSpans(n)
		resp.PartialSuccess().SetErrorMessage(msg)
	}
	return resp, nil
}

type sinkMetrics struct {
	pmetricotlp.UnimplementedGRPCServer
	s *Sink
}

func (h *sinkMetrics) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	md := pmetric.NewMetrics()
	req.Metrics().CopyTo(md)
	h.s.record(grpcRequest(ctx, pipeline.SignalMetrics, md.DataPointCount()), func() { h.s.metrics = append(h.s.metrics, md) })
	resp := pmetricotlp.NewExportResponse()
	if n, msg := h.s.partial(); n > 0 {
		resp.PartialSuccess().SetRejectedDataPoints(n)
		resp.PartialSuccess().SetErrorMessage(msg)
	}
	return resp, nil
}

type sinkLogs struct {
	plogotlp.UnimplementedGRPCServer
	s *Sink
}

func (h *sinkLogs) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	ld := plog.NewLogs()
	req.Logs().CopyTo(ld)
	h.s.record(grpcRequest(ctx, pipeline.SignalLogs, ld.LogRecordCount()), func() { h.s.logs = append(h.s.logs, ld) })
	resp := plogotlp.NewExportResponse()
	if n, msg := h.s.partial(); n > 0 {
		resp.PartialSuccess().SetRejectedLogRecords(n)
		resp.PartialSuccess().SetErrorMessage(msg)
	}
	return resp, nil
}

func grpcRequest(ctx context.Context, sig pipeline.Signal, items int) SinkRequest {
	md, _ := metadata.FromIncomingContext(ctx)
	req := SinkRequest{Transport: "grpc", Signal: sig, Headers: map[string][]string(md.Copy()), Encoding: "proto", Items: items}
	if w, ok := ctx.Value(wireKey{}).(*wireSize); ok {
		req.Compressed = w.compressed
	}
	return req
}

// zstdDecompressor lets the gRPC server read zstd requests.
type zstdDecompressor struct {
	once sync.Once
	dec  *zstd.Decoder
	err  error
}

func (*zstdDecompressor) Type() string { return "zstd" }

func (z *zstdDecompressor) Do(r io.Reader) ([]byte, error) {
	z.once.Do(func() { z.dec, z.err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)) })
	if z.err != nil {
		return nil, z.err
	}
	in, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return z.dec.DecodeAll(in, nil)
}

func (z *zstdDecompressor) close() {
	z.once.Do(func() {})
	if z.dec != nil {
		z.dec.Close()
	}
}

// wireSizes is a stats.Handler that tells whether a gRPC request arrived compressed.
type wireSizes struct{}

type wireKey struct{}

type wireSize struct{ compressed bool }

func (wireSizes) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, wireKey{}, &wireSize{})
}

func (wireSizes) HandleRPC(ctx context.Context, s stats.RPCStats) {
	// The payload is decoded before the service method runs, on the same goroutine.
	if in, ok := s.(*stats.InPayload); ok {
		if w, ok := ctx.Value(wireKey{}).(*wireSize); ok {
			w.compressed = in.CompressedLength > 0 && in.CompressedLength != in.Length
		}
	}
}

func (wireSizes) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (wireSizes) HandleConn(context.Context, stats.ConnStats)                       {}

// HTTP service.

func (s *Sink) serveHTTP(w http.ResponseWriter, r *http.Request) {
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
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, compressed, err := readBody(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := SinkRequest{Transport: "http", Signal: sig, Headers: map[string][]string{}, Encoding: "proto", Compressed: compressed}
	for k, v := range r.Header {
		req.Headers[strings.ToLower(k)] = v
	}
	json := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	if json {
		req.Encoding = "json"
	}
	rejected, msg := s.partial()
	var resp interface {
		MarshalProto() ([]byte, error)
		MarshalJSON() ([]byte, error)
	}
	switch sig {
	case pipeline.SignalTraces:
		er := ptraceotlp.NewExportRequest()
		if err = decode(er.UnmarshalProto, er.UnmarshalJSON, json, body); err == nil {
			td := er.Traces()
			req.Items = td.SpanCount()
			s.record(req, func() { s.traces = append(s.traces, td) })
			rsp := ptraceotlp.NewExportResponse()
			if rejected > 0 {
				rsp.PartialSuccess().SetRejectedSpans(rejected)
				rsp.PartialSuccess().SetErrorMessage(msg)
			}
			resp = rsp
		}
	case pipeline.SignalMetrics:
		er := pmetricotlp.NewExportRequest()
		if err = decode(er.UnmarshalProto, er.UnmarshalJSON, json, body); err == nil {
			md := er.Metrics()
			req.Items = md.DataPointCount()
			s.record(req, func() { s.metrics = append(s.metrics, md) })
			rsp := pmetricotlp.NewExportResponse()
			if rejected > 0 {
				rsp.PartialSuccess().SetRejectedDataPoints(rejected)
				rsp.PartialSuccess().SetErrorMessage(msg)
			}
			resp = rsp
		}
	case pipeline.SignalLogs:
		er := plogotlp.NewExportRequest()
		if err = decode(er.UnmarshalProto, er.UnmarshalJSON, json, body); err == nil {
			ld := er.Logs()
			req.Items = ld.LogRecordCount()
			s.record(req, func() { s.logs = append(s.logs, ld) })
			rsp := plogotlp.NewExportResponse()
			if rejected > 0 {
				rsp.PartialSuccess().SetRejectedLogRecords(rejected)
				rsp.PartialSuccess().SetErrorMessage(msg)
			}
			resp = rsp
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out []byte
	if json {
		out, err = resp.MarshalJSON()
		w.Header().Set("Content-Type", "application/json")
	} else {
		out, err = resp.MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(out)
}

func decode(proto, json func([]byte) error, isJSON bool, body []byte) error {
	if isJSON {
		return json(body)
	}
	return proto(body)
}

// readBody reads a request body, gunzipping it when Content-Encoding says so.
func readBody(r *http.Request) ([]byte, bool, error) {
	var rd io.Reader = r.Body
	compressed := false
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, true, err
		}
		defer zr.Close()
		rd, compressed = zr, true
	case "zstd":
		zr, err := zstd.NewReader(r.Body, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, true, err
		}
		defer zr.Close()
		rd, compressed = zr, true
	default:
		return nil, false, errors.New("unsupported Content-Encoding " + enc)
	}
	b, err := io.ReadAll(rd)
	return b, compressed, err
}
