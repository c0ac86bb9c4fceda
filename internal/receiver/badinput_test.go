package receiver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

func zlibbed(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t testing.TB, b []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// badTraceID is a one-span request whose trace_id has 15 bytes, written by hand since pdata
// cannot produce it: resource_spans[0].scope_spans[0].spans[0].trace_id.
func badTraceID() []byte {
	span := append([]byte{0x0a, 15}, bytes.Repeat([]byte{1}, 15)...)
	span = append(span, 0x12, 8, 1, 2, 3, 4, 5, 6, 7, 8)
	scope := append([]byte{0x12, byte(len(span))}, span...)
	rs := append([]byte{0x12, byte(len(scope))}, scope...)
	return append([]byte{0x0a, byte(len(rs))}, rs...)
}

// decodeStatus parses a google.rpc.Status error body in the given encoding.
func decodeStatus(t *testing.T, json bool, b []byte) *spb.Status {
	t.Helper()
	var st spb.Status
	var err error
	if json {
		err = protojson.Unmarshal(b, &st)
	} else {
		err = proto.Unmarshal(b, &st)
	}
	if err != nil {
		t.Fatalf("error body is not a google.rpc.Status (%v): %q", err, b)
	}
	return &st
}

func TestHTTPBadInput(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.MaxRequestBodyMiB = 1
	s := newSink()
	r := startReceiver(t, cfg, s)
	client := &http.Client{}
	tracesURL := httpURL(r, pipeline.SignalTraces, "http")
	bomb := gzipped(t, make([]byte, 3<<20)) // 3 MiB of zeros in a few KiB
	zbomb := zstded(t, make([]byte, 3<<20))
	good := tracesBody(t, 5, 0)
	partial := tracesBody(t, 10, 2) // every 2nd span has no trace_id

	tests := []struct {
		name        string
		method      string
		url         string
		contentType string
		encoding    string
		body        []byte
		status      int
		message     string // in the google.rpc.Status, or the partial success
		delivered   int    // spans that must reach the pipeline
	}{
		{name: "malformed protobuf", contentType: ctProtobuf, body: []byte{0x0a, 0x05, 0x12, 0x03},
			status: 400, message: "resource_spans[0]"},
		{name: "wrong length trace id", contentType: ctProtobuf, body: badTraceID(),
			status: 400, message: "resource_spans[0].scope_spans[0].spans[0].trace_id: length 15, want 16"},
		{name: "wrong length trace id json", contentType: ctJSON,
			body:   []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102","spanId":"0102030405060708"}]}]}]}`),
			status: 400, message: "invalid JSON"},
		{name: "invalid json", contentType: ctJSON, body: []byte(`{"resourceSpans":[`), status: 400, message: "invalid JSON"},
		{name: "wrong content type", contentType: "text/plain", body: good, status: 415, message: "Content-Type"},
		{name: "no content type", body: good, status: 415, message: "Content-Type"},
		{name: "unknown encoding", contentType: ctProtobuf, encoding: "br", body: good, status: 415, message: "Content-Encoding"},
		{name: "truncated gzip", contentType: ctProtobuf, encoding: "gzip", body: gzipped(t, good)[:20],
			status: 400, message: "invalid gzip body"},
		{name: "not gzip", contentType: ctProtobuf, encoding: "gzip", body: good, status: 400, message: "invalid gzip body"},
		{name: "bad zstd", contentType: ctProtobuf, encoding: "zstd", body: good, status: 400, message: "invalid zstd body"},
		{name: "oversize body", contentType: ctProtobuf, body: make([]byte, 1<<20+1), status: 413, message: "exceeds the limit of 1 MiB"},
		{name: "gzip bomb", contentType: ctProtobuf, encoding: "gzip", body: bomb, status: 413, message: "decompressed request body exceeds"},
		{name: "zstd bomb", contentType: ctProtobuf, encoding: "zstd", body: zbomb, status: 413, message: "decompressed request body exceeds"},
		{name: "zero trace ids", contentType: ctProtobuf, body: partial, status: 200,
			message: "5 of 10 spans rejected: trace_id or span_id missing or all zeros", delivered: 5},
		{name: "zero trace ids json", contentType: ctJSON, body: toJSON(t, pipeline.SignalTraces, partial), status: 200,
			message: "5 of 10 spans rejected", delivered: 5},
		{name: "empty request", contentType: ctProtobuf, body: nil, status: 200},
		{name: "empty json request", contentType: ctJSON, body: []byte(`{}`), status: 200},
		{name: "wrong method", method: http.MethodGet, contentType: ctProtobuf, status: 405, message: "use POST"},
		{name: "unknown path", url: "http://" + r.HTTPAddr().String() + "/v1/profiles", contentType: ctProtobuf, body: good,
			status: 404, message: "unknown path"},
		{name: "good gzip", contentType: ctProtobuf, encoding: "gzip", body: gzipped(t, good), status: 200, delivered: 5},
		{name: "good zstd", contentType: ctProtobuf, encoding: "zstd", body: zstded(t, good), status: 200, delivered: 5},
		{name: "good deflate", contentType: ctProtobuf, encoding: "deflate", body: zlibbed(t, good), status: 200, delivered: 5},
		{name: "good zlib", contentType: ctProtobuf, encoding: "zlib", body: zlibbed(t, good), status: 200, delivered: 5},
		{name: "bad deflate", contentType: ctProtobuf, encoding: "deflate", body: good, status: 400, message: "invalid deflate body"},
		{name: "deflate bomb", contentType: ctProtobuf, encoding: "deflate", body: zlibbed(t, make([]byte, 3<<20)), status: 413, message: "decompressed request body exceeds"},
		{name: "good json gzip", contentType: ctJSON + "; charset=utf-8", encoding: "gzip",
			body: gzipped(t, toJSON(t, pipeline.SignalTraces, good)), status: 200, delivered: 5},
	}
	want := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, url := tt.method, tt.url
			if method == "" {
				method = http.MethodPost
			}
			if url == "" {
				url = tracesURL
			}
			req, err := http.NewRequest(method, url, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tt.status, buf.Bytes())
			}
			json := strings.HasPrefix(tt.contentType, ctJSON)
			wantCT := ctProtobuf
			if json {
				wantCT = ctJSON
			}
			if ct := resp.Header.Get("Content-Type"); ct != wantCT {
				t.Errorf("Content-Type %q, want %q", ct, wantCT)
			}
			if tt.status == 200 {
				resp := ptraceotlp.NewExportResponse()
				if json {
					err = resp.UnmarshalJSON(buf.Bytes())
				} else {
					err = resp.UnmarshalProto(buf.Bytes())
				}
				if err != nil {
					t.Fatalf("bad ExportTraceServiceResponse %q: %v", buf.Bytes(), err)
				}
				ps := resp.PartialSuccess()
				if !strings.Contains(ps.ErrorMessage(), tt.message) || (tt.message == "") != (ps.RejectedSpans() == 0) {
					t.Errorf("partial success %d %q, want %q", ps.RejectedSpans(), ps.ErrorMessage(), tt.message)
				}
			} else if st := decodeStatus(t, json, buf.Bytes()); !strings.Contains(st.GetMessage(), tt.message) {
				t.Errorf("message %q, want it to contain %q", st.GetMessage(), tt.message)
			}
			// A good request after each bad one: the server keeps serving.
			if res := post(t, client, tracesURL, ctProtobuf, good, nil); res.status != 200 {
				t.Fatalf("good request after %q: status %d", tt.name, res.status)
			}
			want += tt.delivered + 5
			s.waitItems(t, pipeline.SignalTraces, want)
		})
	}
	if got := s.count(pipeline.SignalTraces); got != want {
		t.Errorf("%d spans delivered, want %d", got, want)
	}
	if td := s.traces(t); td.SpanCount() != want {
		t.Errorf("the pipeline decoded %d spans, want %d", td.SpanCount(), want)
	}
}

func TestHTTPMalformedCarriesBadRequestDetail(t *testing.T) {
	s := newSink()
	r := startReceiver(t, testConfig(), s)
	res := post(t, http.DefaultClient, httpURL(r, pipeline.SignalTraces, "http"), ctProtobuf, badTraceID(), nil)
	st := decodeStatus(t, false, res.body)
	if res.status != 400 || st.GetCode() != int32(codes.InvalidArgument) || len(st.GetDetails()) != 1 {
		t.Fatalf("status %d, %v", res.status, st)
	}
	var br errdetails.BadRequest
	if err := st.GetDetails()[0].UnmarshalTo(&br); err != nil {
		t.Fatal(err)
	}
	v := br.GetFieldViolations()
	if len(v) != 1 || v[0].GetField() != "resource_spans[0].scope_spans[0].spans[0].trace_id" || v[0].GetDescription() != "length 15, want 16" {
		t.Fatalf("violations %v", v)
	}
}

func TestGRPCBadInput(t *testing.T) {
	cfg := testConfig()
	cfg.GRPC.MaxRecvMsgSizeMiB = 1
	s := newSink()
	r := startReceiver(t, cfg, s)
	conn := grpcClient(t, r.GRPCAddr(), nil)
	ctx := context.Background()
	good := tracesBody(t, 5, 0)

	tests := []struct {
		name      string
		body      []byte
		code      codes.Code
		message   string
		rejected  int64
		delivered int
	}{
		{"malformed protobuf", []byte{0x0a, 0x05, 0x12, 0x03}, codes.InvalidArgument, "resource_spans[0]", 0, 0},
		{"wrong length trace id", badTraceID(), codes.InvalidArgument, "spans[0].trace_id: length 15, want 16", 0, 0},
		{"oversize", make([]byte, 1<<20+1), codes.ResourceExhausted, "larger than max", 0, 0},
		{"zero trace ids", tracesBody(t, 10, 2), codes.OK, "5 of 10 spans rejected", 5, 5},
		{"all spans invalid", tracesBody(t, 3, 1), codes.OK, "3 of 3 spans rejected", 3, 0},
		{"empty request", nil, codes.OK, "", 0, 0},
	}
	want := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := exportGRPC(ctx, conn, pipeline.SignalTraces, tt.body)
			st := status.Convert(err)
			if st.Code() != tt.code || !strings.Contains(st.Message(), tt.message) && tt.code != codes.OK {
				t.Fatalf("status %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.message)
			}
			if tt.code == codes.OK {
				er := ptraceotlp.NewExportResponse()
				if err := er.UnmarshalProto(resp); err != nil {
					t.Fatal(err)
				}
				ps := er.PartialSuccess()
				if ps.RejectedSpans() != tt.rejected || !strings.Contains(ps.ErrorMessage(), tt.message) {
					t.Errorf("partial success %d %q, want %d %q", ps.RejectedSpans(), ps.ErrorMessage(), tt.rejected, tt.message)
				}
			}
			if _, err := exportGRPC(ctx, conn, pipeline.SignalTraces, good); err != nil {
				t.Fatalf("good request after %q: %v", tt.name, err)
			}
			want += tt.delivered + 5
			s.waitItems(t, pipeline.SignalTraces, want)
		})
	}
	if td := s.traces(t); td.SpanCount() != want {
		t.Errorf("the pipeline decoded %d spans, want %d", td.SpanCount(), want)
	}
}

// A request whose sender already gave up (deadline passed or stream reset while a partition
// held it back) is refused rather than accepted: the sender sends it again, and accepting it
// too would deliver it twice.
func TestRequestOfASenderThatGaveUpIsNotAccepted(t *testing.T) {
	s := newSink()
	r := startReceiver(t, testConfig(), s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	scratch := r.getBuffer()
	defer r.putBuffer(scratch)
	o := r.export(ctx, transportGRPC, pipeline.SignalTraces, tracesBody(t, 5, 0), scratch)
	if o.code != codes.Canceled {
		t.Fatalf("outcome %v %q, want Canceled", o.code, o.msg)
	}
	// The same request from a sender still waiting is accepted.
	if o := r.export(t.Context(), transportGRPC, pipeline.SignalTraces, tracesBody(t, 5, 0), scratch); o.code != codes.OK {
		t.Fatalf("live request: %v %q", o.code, o.msg)
	}
	s.waitItems(t, pipeline.SignalTraces, 5)
	if got := s.count(pipeline.SignalTraces); got != 5 {
		t.Fatalf("sink got %d spans, want only the live request's 5", got)
	}
}

// zstdClient compresses requests with zstd, as the Collector's gRPC exporter does with
// compression: zstd.
type zstdClient struct{ enc *zstd.Encoder }

func (zstdClient) Type() string { return "zstd" }

func (z zstdClient) Do(w io.Writer, p []byte) error {
	_, err := w.Write(z.enc.EncodeAll(p, nil))
	return err
}

func TestGRPCCompression(t *testing.T) {
	cfg := testConfig()
	cfg.GRPC.MaxRecvMsgSizeMiB = 1
	s := newSink()
	r := startReceiver(t, cfg, s)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpcraw.Codec{})),
		grpc.WithCompressor(zstdClient{enc})) //nolint:staticcheck // a zstd client without a global registry
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := exportGRPC(ctx, conn, pipeline.SignalTraces, tracesBody(t, 5, 0)); err != nil {
		t.Fatalf("zstd request: %v", err)
	}
	s.waitItems(t, pipeline.SignalTraces, 5)

	// A small message that inflates past the message limit fails without taking the server down.
	_, err = exportGRPC(ctx, conn, pipeline.SignalTraces, make([]byte, 4<<20))
	if st := status.Convert(err); st.Code() == codes.OK || st.Code() == codes.Unimplemented {
		t.Fatalf("zstd bomb: %v, want a size error", err)
	}
	gz := grpcClient(t, r.GRPCAddr(), nil)
	if _, err := exportGRPC(ctx, gz, pipeline.SignalTraces, tracesBody(t, 3, 0), grpc.UseCompressor("gzip")); err != nil {
		t.Fatalf("gzip request after the bomb: %v", err)
	}
	s.waitItems(t, pipeline.SignalTraces, 8)
}

// trickle returns n bytes, then fails: a sender that announced far more and stalls.
type trickle struct{ n int }

func (t *trickle) Read(p []byte) (int, error) {
	if t.n == 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), t.n)
	t.n -= k
	return k, nil
}

// A Content-Length of 16 MiB reserves no more than preallocMax before the bytes arrive: memory
// follows what was received (40 such connections used to hold 640 MB).
func TestContentLengthDoesNotReserveMemory(t *testing.T) {
	r, err := New(NewDefaultConfig(), Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	req := httptest.NewRequest(http.MethodPost, "/v1/traces", &trickle{n: 10})
	req.ContentLength = 16 << 20
	var raw, wire []byte
	if _, _, _, ok := r.readBody(req, &raw, &wire); ok {
		t.Fatal("a truncated body was accepted")
	}
	if cap(raw) > preallocMax+1 {
		t.Fatalf("reserved %d bytes for a body of which 10 arrived", cap(raw))
	}
}

// TestFullPipelineAnswersWithinMaxWait: a pipeline that holds every request (its queue full)
// gets the request back after max_wait, answered 429 with Retry-After (HTTP) or
// RESOURCE_EXHAUSTED (gRPC), even when the sender set no deadline.
func TestFullPipelineAnswersWithinMaxWait(t *testing.T) {
	held := pipeline.ConsumerFunc(func(ctx context.Context, b pipeline.Batch) error {
		<-ctx.Done() // a full queue: room never comes
		return errors.Join(resilience.Throttled(errors.New("queue full"), 2*time.Second), ctx.Err())
	})
	cfg := testConfig()
	cfg.MaxWait = 100 * time.Millisecond
	r, err := New(cfg, Settings{Traces: held, MetricsConsumer: held, Logs: held})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	body := testutil.TracesBatch(testutil.Traces(1, 5, 0)).Body

	watchdog, cancel := context.WithTimeout(context.Background(), 20*time.Second) // the sender's patience: far longer
	defer cancel()
	req, _ := http.NewRequestWithContext(watchdog, http.MethodPost, "http://"+r.HTTPAddr().String()+"/v1/traces", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("HTTP: no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("HTTP: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	conn, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ereq := ptraceotlp.NewExportRequest()
	if err := ereq.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	_, err = ptraceotlp.NewGRPCClient(conn).Export(watchdog, ereq)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("gRPC: %v, want RESOURCE_EXHAUSTED", err)
	}
}

// A request of thousands of empty envelopes and one span is refused cheaply, naming what was
// wrong, before any stage walks or splits it; a request with as many non-empty envelopes passes.
func TestEmptyEnvelopesRefused(t *testing.T) {
	s := &sink{}
	r := startReceiver(t, testConfig(), s)
	build := func(empty, full int) []byte {
		td := ptrace.NewTraces()
		for range empty {
			td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		}
		for i := range full {
			sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{1, byte(i), byte(i >> 8)})
			sp.SetSpanID(pcommon.SpanID{2, byte(i), byte(i >> 8)})
		}
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	post := func(body []byte) (int, string) {
		resp, err := http.Post("http://"+r.HTTPAddr().String()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	if code, msg := post(build(5000, 1)); code != http.StatusBadRequest || !strings.Contains(string(msg), "hold no spans") {
		t.Fatalf("5000 empty envelopes: %d %q, want 400 naming the empty envelopes", code, msg)
	}
	if code, msg := post(build(0, 5000)); code != http.StatusOK {
		t.Fatalf("5000 envelopes with a span each: %d %q, want 200", code, msg)
	}
}

// TestIdleGRPCConnectionClosed: a connection that carries no RPC for grpc.max_connection_idle is
// closed by the server (the client goes idle and reconnects on its next export).
func TestIdleGRPCConnectionClosed(t *testing.T) {
	cfg := testConfig()
	cfg.GRPC.MaxConnectionIdle = 100 * time.Millisecond
	r := startReceiver(t, cfg, &sink{})
	conn, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := ptraceotlp.NewExportRequest()
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, req); err != nil {
		t.Fatal(err)
	}
	// Ready after the RPC; the server's GOAWAY then moves the channel to IDLE.
	for s := conn.GetState(); s != connectivity.Idle; s = conn.GetState() {
		if !conn.WaitForStateChange(ctx, s) {
			t.Fatalf("connection still %v: the server never closed the idle connection", s)
		}
	}
}
