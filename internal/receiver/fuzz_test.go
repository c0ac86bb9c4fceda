package receiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/internal/otlpwire"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// checkingConsumer verifies what reaches the pipeline: a body that pdata decodes with exactly
// the announced number of items, none of them an invalid span.
type checkingConsumer struct {
	mu  sync.Mutex
	err error // guarded by mu; the first violation
}

func (c *checkingConsumer) Consume(_ context.Context, b pipeline.Batch) error {
	err := func() error {
		sum, err := otlpwire.Scan(b.Signal, b.Body)
		if err != nil {
			return fmt.Errorf("pipeline got a malformed body: %w", err)
		}
		if sum.Items != b.Items || sum.Invalid != 0 || b.Items == 0 {
			return fmt.Errorf("pipeline got %+v announced as %d items", sum, b.Items)
		}
		if n, err := pdataItems(b.Signal, b.Body); err != nil || n != b.Items {
			return fmt.Errorf("pdata counts %d items (%v), the batch says %d", n, err, b.Items)
		}
		return nil
	}()
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	return nil
}

func (c *checkingConsumer) take() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.err
	c.err = nil
	return err
}

func fuzzReceiver(f *testing.F) (*Receiver, *checkingConsumer) {
	c := &checkingConsumer{}
	cfg := testConfig()
	cfg.HTTP.MaxRequestBodyMiB = 1
	r, err := New(cfg, Settings{Traces: c, MetricsConsumer: c, Logs: c})
	if err != nil {
		f.Fatal(err)
	}
	return r, c
}

func FuzzHTTPTraces(f *testing.F)  { fuzzHTTP(f, pipeline.SignalTraces) }
func FuzzHTTPMetrics(f *testing.F) { fuzzHTTP(f, pipeline.SignalMetrics) }
func FuzzHTTPLogs(f *testing.F)    { fuzzHTTP(f, pipeline.SignalLogs) }

// Fuzz modes: bit 0 JSON, bit 1 gzip the payload, bit 2 claim gzip without compressing.
func fuzzHTTP(f *testing.F, sig pipeline.Signal) {
	r, c := fuzzReceiver(f)
	for _, n := range []int{0, 1, 7} {
		b := body(f, sig, n)
		f.Add(b, uint8(0))
		f.Add(b, uint8(2))
		f.Add(toJSON(f, sig, b), uint8(1))
	}
	if sig == pipeline.SignalTraces {
		f.Add(tracesBody(f, 6, 2), uint8(0))
		f.Add(badTraceID(), uint8(0))
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]}`), uint8(1))
	f.Add([]byte{0x1f, 0x8b, 0x08}, uint8(4))
	f.Fuzz(func(t *testing.T, payload []byte, mode uint8) {
		ct := ctProtobuf
		if mode&1 != 0 {
			ct = ctJSON
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/"+sig.String(), bytes.NewReader(payload))
		req.Header.Set("Content-Type", ct)
		switch {
		case mode&2 != 0:
			req = httptest.NewRequest(http.MethodPost, "/v1/"+sig.String(), bytes.NewReader(gzipped(t, payload)))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Content-Encoding", "gzip")
		case mode&4 != 0:
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		r.httpH.ServeHTTP(rec, req)
		if err := c.take(); err != nil {
			t.Fatal(err)
		}
		json := ct == ctJSON
		if got := rec.Header().Get("Content-Type"); got != ct {
			t.Fatalf("Content-Type %q, want %q", got, ct)
		}
		switch rec.Code {
		case http.StatusOK:
			if err := decodeResponse(sig, json, rec.Body.Bytes()); err != nil {
				t.Fatalf("200 with a bad response body: %v", err)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if st := decodeStatus(t, json, rec.Body.Bytes()); st.GetMessage() == "" {
				t.Fatal("error without a message")
			}
		default:
			t.Fatalf("unexpected status %d: %q", rec.Code, rec.Body.Bytes())
		}
	})
}

func FuzzGRPCTraces(f *testing.F)  { fuzzGRPC(f, pipeline.SignalTraces) }
func FuzzGRPCMetrics(f *testing.F) { fuzzGRPC(f, pipeline.SignalMetrics) }
func FuzzGRPCLogs(f *testing.F)    { fuzzGRPC(f, pipeline.SignalLogs) }

// fuzzGRPC drives the Export handler the gRPC server calls, with dec delivering the bytes.
func fuzzGRPC(f *testing.F, sig pipeline.Signal) {
	r, c := fuzzReceiver(f)
	for _, n := range []int{0, 1, 7} {
		f.Add(body(f, sig, n))
	}
	if sig == pipeline.SignalTraces {
		f.Add(tracesBody(f, 6, 2))
		f.Add(badTraceID())
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		dec := func(v any) error {
			fr := v.(*grpcraw.Frame)
			fr.Body = append(fr.Body[:0], payload...)
			return nil
		}
		resp, err := r.handleGRPC(context.Background(), sig, dec)
		if cerr := c.take(); cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil {
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() == "" {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if err := decodeResponse(sig, false, resp.(*grpcraw.Frame).Body); err != nil {
			t.Fatalf("bad response: %v", err)
		}
	})
}
