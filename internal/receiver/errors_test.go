package receiver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/resilience"
)

func TestConsumerErrorMapping(t *testing.T) {
	boom := errors.New("disk on fire")
	tests := []struct {
		name       string
		err        error
		httpStatus int
		code       codes.Code
		retryAfter string        // HTTP header
		retryInfo  time.Duration // gRPC detail, 0: none
		message    string
	}{
		{"permanent", resilience.Permanent(boom), 400, codes.InvalidArgument, "", 0, "rejected by the pipeline"},
		{"throttled", resilience.Throttled(boom, 2500*time.Millisecond), 429, codes.ResourceExhausted, "3", 2500 * time.Millisecond, "throttled"},
		{"throttled wrapped", fmt.Errorf("queue: %w", resilience.Throttled(boom, 4*time.Second)), 429, codes.ResourceExhausted, "4", 4 * time.Second, "throttled"},
		{"other", boom, 503, codes.Unavailable, "1", time.Second, "pipeline unavailable"},
		{"context canceled", context.Canceled, 503, codes.Unavailable, "1", time.Second, "retry later"},
	}
	s := newSink()
	r := startReceiver(t, testConfig(), s)
	conn := grpcClient(t, r.GRPCAddr(), nil)
	for _, tt := range tests {
		for _, sig := range pipeline.Signals {
			t.Run(tt.name+"/"+sig.String(), func(t *testing.T) {
				s.setFail(tt.err)
				defer s.setFail(nil)
				for _, json := range []bool{false, true} {
					b, ct := body(t, sig, 3), ctProtobuf
					if json {
						b, ct = toJSON(t, sig, b), ctJSON
					}
					res := post(t, http.DefaultClient, httpURL(r, sig, "http"), ct, b, nil)
					if res.status != tt.httpStatus || res.header.Get("Retry-After") != tt.retryAfter {
						t.Fatalf("json=%v: status %d Retry-After %q, want %d %q", json, res.status, res.header.Get("Retry-After"), tt.httpStatus, tt.retryAfter)
					}
					if st := decodeStatus(t, json, res.body); !strings.Contains(st.GetMessage(), tt.message) || !strings.Contains(st.GetMessage(), "disk on fire") && tt.err != context.Canceled {
						t.Errorf("message %q", st.GetMessage())
					}
				}
				_, err := exportGRPC(context.Background(), conn, sig, body(t, sig, 3))
				st := status.Convert(err)
				if st.Code() != tt.code || !strings.Contains(st.Message(), tt.message) {
					t.Fatalf("gRPC %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.message)
				}
				var got time.Duration
				for _, d := range st.Details() {
					if ri, ok := d.(*errdetails.RetryInfo); ok {
						got = ri.GetRetryDelay().AsDuration()
					}
				}
				if got != tt.retryInfo {
					t.Errorf("RetryInfo %v, want %v", got, tt.retryInfo)
				}
			})
		}
	}
}

func TestBearerAuth(t *testing.T) {
	cfg := testConfig()
	cfg.Auth.BearerTokenFile = t.TempDir() + "/token"
	writeFile(t, cfg.Auth.BearerTokenFile, []byte("  tok-123\n"))
	s := newSink()
	r := startReceiver(t, cfg, s)
	conn := grpcClient(t, r.GRPCAddr(), nil)
	url := httpURL(r, pipeline.SignalLogs, "http")
	for _, tt := range []struct {
		name   string
		header string
		ok     bool
	}{
		{"missing", "", false},
		{"wrong token", "Bearer tok-124", false},
		{"prefix of token", "Bearer tok-12", false},
		{"wrong scheme", "Basic tok-123", false},
		{"no scheme", "tok-123", false},
		{"right", "Bearer tok-123", true},
		{"scheme case", "bearer tok-123", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.header != "" {
				h["Authorization"] = tt.header
			}
			res := post(t, http.DefaultClient, url, ctProtobuf, logsBody(t, 1), h)
			if tt.ok != (res.status == 200) || !tt.ok && (res.status != 401 || res.header.Get("WWW-Authenticate") == "") {
				t.Fatalf("HTTP status %d, header %q", res.status, res.header.Get("WWW-Authenticate"))
			}
			ctx := context.Background()
			if tt.header != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tt.header)
			}
			_, err := exportGRPC(ctx, conn, pipeline.SignalLogs, logsBody(t, 1))
			if code := status.Code(err); tt.ok != (code == codes.OK) || !tt.ok && code != codes.Unauthenticated {
				t.Fatalf("gRPC %v", err)
			}
		})
	}
	if got := s.count(pipeline.SignalLogs); got != 4 {
		t.Errorf("%d records delivered, want 4 (only authenticated requests)", got)
	}
}
