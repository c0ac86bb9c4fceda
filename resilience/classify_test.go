package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otlp-dev/otlp/resilience"
)

func TestErrorKinds(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	tests := []struct {
		name      string
		err       error
		kind      resilience.Kind
		severity  resilience.Severity
		retryable bool
	}{
		{"transport", resilience.TransportError("dial", cause), resilience.KindTransport, resilience.SeverityMedium, true},
		{"configuration", resilience.ConfigurationError("load", cause), resilience.KindConfiguration, resilience.SeverityHigh, false},
		{"data", resilience.DataProcessingError("decode", cause), resilience.KindDataProcessing, resilience.SeverityMedium, false},
		{"exporter", resilience.ExporterError("export", cause), resilience.KindExporter, resilience.SeverityMedium, true},
		{"system", resilience.SystemError("alloc", cause), resilience.KindSystem, resilience.SeverityCritical, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrapped := fmt.Errorf("outer: %w", tt.err)
			if !errors.Is(wrapped, tt.kind) {
				t.Errorf("errors.Is(err, %v) = false", tt.kind)
			}
			if !errors.Is(wrapped, cause) {
				t.Error("the cause is not reachable with errors.Is")
			}
			var e *resilience.Error
			if !errors.As(wrapped, &e) {
				t.Fatal("errors.As(*Error) = false")
			}
			if e.Time.IsZero() || e.Op == "" || e.Suggestion == "" {
				t.Errorf("missing context: %+v", e)
			}
			if got := resilience.KindOf(wrapped); got != tt.kind {
				t.Errorf("KindOf = %v, want %v", got, tt.kind)
			}
			if got := resilience.SeverityOf(wrapped); got != tt.severity {
				t.Errorf("SeverityOf = %v, want %v", got, tt.severity)
			}
			if got := resilience.IsRetryable(wrapped); got != tt.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tt.retryable)
			}
			if got := resilience.IsPermanent(wrapped); got == tt.retryable {
				t.Errorf("IsPermanent = %v, want %v", got, !tt.retryable)
			}
			if resilience.SuggestionOf(wrapped) == "" {
				t.Error("no suggestion")
			}
		})
	}
	if resilience.TransportError("x", nil) != nil {
		t.Error("a nil error must stay nil")
	}
	if errors.Is(resilience.TransportError("x", cause), resilience.KindSystem) {
		t.Error("a transport error matched KindSystem")
	}
}

func TestIsRetryable(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", boom, true},
		{"permanent", resilience.Permanent(boom), false},
		{"wrapped permanent", fmt.Errorf("x: %w", resilience.Permanent(boom)), false},
		{"joined permanent", errors.Join(boom, resilience.Permanent(boom)), false},
		{"throttled", resilience.Throttled(boom, time.Second), true},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, true},
		{"timeout", resilience.ErrTimeout, true},
		{"open breaker", resilience.ErrOpen, true},
		{"grpc unavailable", status.Error(codes.Unavailable, "down"), true},
		{"grpc invalid argument", status.Error(codes.InvalidArgument, "bad"), false},
		{"grpc resource exhausted without retry info", status.Error(codes.ResourceExhausted, "full"), false},
		{"grpc resource exhausted with retry info", withRetryInfo(t, codes.ResourceExhausted, time.Second).Err(), true},
		{"classified retryable wraps grpc permanent", resilience.TransportError("x", status.Error(codes.InvalidArgument, "bad")), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resilience.IsRetryable(tt.err); got != tt.want {
				t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func withRetryInfo(t testing.TB, code codes.Code, d time.Duration) *status.Status {
	st, err := status.New(code, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFromGRPCStatus(t *testing.T) {
	tests := []struct {
		name      string
		st        *status.Status
		retryable bool
		delay     time.Duration // -1: not throttled
		kind      resilience.Kind
	}{
		{"unavailable", status.New(codes.Unavailable, "x"), true, -1, 0},
		{"aborted", status.New(codes.Aborted, "x"), true, -1, 0},
		{"deadline", status.New(codes.DeadlineExceeded, "x"), true, -1, 0},
		{"canceled", status.New(codes.Canceled, "x"), true, -1, 0},
		{"out of range", status.New(codes.OutOfRange, "x"), true, -1, 0},
		{"data loss", status.New(codes.DataLoss, "x"), true, -1, 0},
		{"unavailable with retry info", withRetryInfo(t, codes.Unavailable, 3*time.Second), true, 3 * time.Second, 0},
		{"resource exhausted", status.New(codes.ResourceExhausted, "x"), false, -1, 0},
		{"resource exhausted with retry info", withRetryInfo(t, codes.ResourceExhausted, 2*time.Second), true, 2 * time.Second, 0},
		{"invalid argument", status.New(codes.InvalidArgument, "x"), false, -1, 0},
		// The destination is misconfigured, not the data: held and retried, never dropped.
		{"unauthenticated", status.New(codes.Unauthenticated, "x"), true, -1, resilience.KindConfiguration},
		{"permission denied", status.New(codes.PermissionDenied, "x"), true, -1, resilience.KindConfiguration},
		{"unimplemented", status.New(codes.Unimplemented, "x"), true, -1, resilience.KindConfiguration},
		{"not found", status.New(codes.NotFound, "x"), true, -1, resilience.KindConfiguration},
		{"internal", status.New(codes.Internal, "x"), false, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := resilience.FromGRPCStatus(tt.st)
			if err == nil {
				t.Fatal("nil error")
			}
			if got := resilience.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tt.retryable)
			}
			if got := resilience.IsPermanent(err); got == tt.retryable {
				t.Errorf("IsPermanent = %v", got)
			}
			d, ok := resilience.RetryAfter(err)
			if tt.delay < 0 && ok || tt.delay >= 0 && (!ok || d != tt.delay) {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tt.delay)
			}
			if got := status.Code(err); got != tt.st.Code() {
				t.Errorf("status.Code = %v, want %v", got, tt.st.Code())
			}
			want := tt.kind
			if want == resilience.KindUnknown {
				want = resilience.KindTransport
			}
			if got := resilience.KindOf(err); got != want {
				t.Errorf("kind %v, want %v", got, want)
			}
		})
	}
	if resilience.FromGRPCStatus(nil) != nil || resilience.FromGRPCStatus(status.New(codes.OK, "")) != nil {
		t.Error("OK must give nil")
	}
}

func TestFromHTTPResponse(t *testing.T) {
	hdr := func(v string) http.Header {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		return h
	}
	tests := []struct {
		name      string
		code      int
		retryAt   string
		retryable bool
		delay     time.Duration // -1: not throttled
	}{
		{"ok", 200, "", false, -1},
		{"too many requests", 429, "", true, -1},
		{"too many requests with seconds", 429, "7", true, 7 * time.Second},
		{"unavailable with seconds", 503, "2", true, 2 * time.Second},
		{"bad gateway", 502, "", true, -1},
		{"gateway timeout", 504, "", true, -1},
		{"unavailable with bad header", 503, "soon", true, -1},
		{"unavailable with negative header", 503, "-3", true, -1},
		{"unavailable with date in the past", 503, "Mon, 02 Jan 2006 15:04:05 GMT", true, 0},
		{"bad request", 400, "", false, -1},
		// The destination is misconfigured, not the data: held and retried, never dropped.
		{"unauthorized", 401, "", true, -1},
		{"forbidden", 403, "", true, -1},
		{"not found", 404, "", true, -1},
		{"method not allowed", 405, "", true, -1},
		{"unsupported media type", 415, "", true, -1},
		{"payload too large", 413, "", false, -1},
		{"internal", 500, "", false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := resilience.FromHTTPResponse(tt.code, hdr(tt.retryAt), "body text")
			if tt.code == 200 {
				if err != nil {
					t.Fatalf("2xx gave %v", err)
				}
				return
			}
			if got := resilience.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable = %v, want %v (%v)", got, tt.retryable, err)
			}
			d, ok := resilience.RetryAfter(err)
			if tt.delay < 0 && ok || tt.delay >= 0 && (!ok || d != tt.delay) {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tt.delay)
			}
			if code, ok := resilience.HTTPStatus(err); !ok || code != tt.code {
				t.Errorf("HTTPStatus = %v, %v", code, ok)
			}
			config := tt.code == 401 || tt.code == 403 || tt.code == 404 || tt.code == 405 || tt.code == 415
			if got := resilience.KindOf(err) == resilience.KindConfiguration; got != config {
				t.Errorf("configuration kind = %v, want %v (%v)", got, config, err)
			}
		})
	}
	t.Run("future date", func(t *testing.T) {
		at := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
		d, ok := resilience.RetryAfter(resilience.FromHTTPResponse(503, hdr(at), ""))
		if !ok || d < 58*time.Minute || d > time.Hour {
			t.Errorf("RetryAfter = %v, %v; want about 1h", d, ok)
		}
	})
	t.Run("long body is shortened", func(t *testing.T) {
		body := string(make([]byte, 10000))
		if msg := resilience.FromHTTPResponse(400, nil, body).Error(); len(msg) > 1000 {
			t.Errorf("message of %d bytes", len(msg))
		}
	})
}

// FuzzFromHTTPResponse feeds arbitrary statuses, Retry-After values and bodies: no panic, and
// the classification rules hold.
func FuzzFromHTTPResponse(f *testing.F) {
	f.Add(503, "120", "unavailable")
	f.Add(429, "Wed, 21 Oct 2015 07:28:00 GMT", "")
	f.Add(400, "", "bad")
	f.Add(503, "99999999999999999999", "")
	f.Fuzz(func(t *testing.T, code int, retryAfter, body string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		err := resilience.FromHTTPResponse(code, h, body)
		if code >= 200 && code < 300 {
			if err != nil {
				t.Fatalf("2xx gave %v", err)
			}
			return
		}
		if err == nil {
			t.Fatal("non-2xx gave nil")
		}
		if d, ok := resilience.RetryAfter(err); ok && d < 0 {
			t.Fatalf("RetryAfter %v for %q", d, retryAfter)
		}
		retryable := code == 429 || code == 502 || code == 503 || code == 504 ||
			// configuration answers: held, not dropped
			code == 401 || code == 403 || code == 404 || code == 405 || code == 415 ||
			code == 400 && strings.Contains(body, "HTTP request to an HTTPS server")
		if resilience.IsRetryable(err) != retryable {
			t.Fatalf("IsRetryable(%d) = %v", code, !retryable)
		}
	})
}
