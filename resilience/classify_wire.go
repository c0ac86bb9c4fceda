package resilience

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcRetryable says whether an OTLP export that failed with code may be retried
// (OTLP specification, "Failures"): ResourceExhausted only when the server sent RetryInfo.
// Beyond the specification, the codes that say the destination is misconfigured rather than
// the data bad (grpcConfiguration) are retried too: dropping data for a wrong endpoint,
// credential or compression would lose what a corrected configuration delivers.
func grpcRetryable(code codes.Code, hasRetryInfo bool) bool {
	switch code {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange,
		codes.Unavailable, codes.DataLoss:
		return true
	case codes.Unimplemented, codes.Unauthenticated, codes.PermissionDenied, codes.NotFound:
		return true
	case codes.ResourceExhausted:
		return hasRetryInfo
	}
	return false
}

// retryInfoDelay returns the RetryInfo delay of st, or -1 if it carries none.
func retryInfoDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			if ri.GetRetryDelay() == nil {
				return 0
			}
			return max(ri.GetRetryDelay().AsDuration(), 0)
		}
	}
	return -1
}

// grpcConfiguration reports the codes that say the exporter's settings or the destination are
// wrong (endpoint, path, credentials, compression), not the data.
func grpcConfiguration(code codes.Code) bool {
	switch code {
	case codes.Unimplemented, codes.Unauthenticated, codes.PermissionDenied, codes.NotFound:
		return true
	}
	return false
}

// FromGRPCStatus turns the status of a failed OTLP/gRPC call into a classified error: nil for
// OK; a retryable transport error for Unavailable, Aborted, DeadlineExceeded, Canceled,
// OutOfRange and DataLoss; a retryable KindConfiguration error for Unimplemented,
// Unauthenticated, PermissionDenied and NotFound (the data is held until the configuration is
// fixed); ResourceExhausted is retryable only with RetryInfo; every other code is Permanent. A RetryInfo delay becomes the minimum wait (Throttled). The result still
// answers status.FromError with st's code.
func FromGRPCStatus(st *status.Status) error {
	if st == nil || st.Code() == codes.OK {
		return nil
	}
	delay := retryInfoDelay(st)
	retryable := grpcRetryable(st.Code(), delay >= 0)
	kind, severity := KindTransport, SeverityMedium
	if grpcConfiguration(st.Code()) {
		kind, severity = KindConfiguration, SeverityHigh
	}
	var err error = &Error{
		Kind:       kind,
		Severity:   severity,
		Retryable:  retryable,
		Suggestion: grpcSuggestion(st.Code(), retryable),
		Op:         "grpc",
		Time:       time.Now(),
		Err:        st.Err(),
	}
	if !retryable {
		return Permanent(err)
	}
	if delay > 0 {
		return Throttled(err, delay)
	}
	return err
}

func grpcSuggestion(code codes.Code, retryable bool) string {
	switch {
	case code == codes.Unauthenticated || code == codes.PermissionDenied:
		return "check the exporter's credentials (headers, bearer token, client certificate); the data is held and retried"
	case code == codes.Unimplemented:
		return "the endpoint does not serve OTLP for this signal, or not with this compression; check the endpoint and compression; the data is held and retried"
	case code == codes.NotFound:
		return "the endpoint does not know this service; check the endpoint; the data is held and retried"
	case code == codes.ResourceExhausted && !retryable:
		return "the receiver is overloaded and did not ask for a retry; reduce the load"
	case retryable:
		return "the receiver is temporarily unavailable; the export will be retried"
	}
	return "the receiver rejected the data; retrying will not help"
}

// maxBodyInError bounds how much of a response body an error message quotes.
const maxBodyInError = 256

// FromHTTPResponse turns an OTLP/HTTP response into a classified error: nil for 2xx; 429, 502,
// 503 and 504 are retryable, honouring Retry-After (seconds or an HTTP date) as the minimum
// wait; 401, 403, 404, 405 and 415 say the exporter's settings are wrong, not the data, and are
// retryable KindConfiguration errors (the data is held until the configuration is fixed);
// every other status is Permanent. body (possibly empty) is quoted, shortened, in the
// message.
func FromHTTPResponse(code int, header http.Header, body string) error {
	if code >= 200 && code < 300 {
		return nil
	}
	if len(body) > maxBodyInError {
		body = body[:maxBodyInError] + "..."
	}
	cause := &HTTPStatusError{Code: code, Body: strings.TrimSpace(body)}
	retryable := false
	configuration := false
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout:
		retryable = true
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusUnsupportedMediaType:
		retryable, configuration = true, true
	}
	// Go's TLS servers answer a plaintext request with this 400: the scheme is wrong, not the data.
	plainToTLS := code == http.StatusBadRequest && strings.Contains(body, "HTTP request to an HTTPS server")
	if plainToTLS {
		retryable, configuration = true, true
	}
	kind := KindTransport
	if code >= 400 && code < 500 && code != http.StatusTooManyRequests {
		kind = KindDataProcessing
	}
	err := &Error{
		Kind: kind, Severity: SeverityMedium, Retryable: retryable, Op: "http",
		Time: time.Now(), Err: cause,
	}
	if configuration {
		err.Kind, err.Severity = KindConfiguration, SeverityHigh
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		err.Suggestion = "check the exporter's credentials (headers, bearer token, client certificate); the data is held and retried"
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		err.Suggestion = "check the endpoint URL and path (/v1/traces, /v1/metrics, /v1/logs); the data is held and retried"
	case plainToTLS:
		err.Suggestion = "plaintext to an endpoint that expects TLS: write the endpoint as https://host:port; the data is held and retried"
	case code == http.StatusUnsupportedMediaType:
		err.Suggestion = "the endpoint does not accept this content type or encoding; check the exporter's encoding and compression; the data is held and retried"
	case retryable:
		err.Suggestion = "the receiver is temporarily unavailable or overloaded; the export will be retried"
	default:
		err.Suggestion = "the receiver rejected the data; retrying will not help"
	}
	if !retryable {
		return Permanent(err)
	}
	if d, ok := parseRetryAfter(header.Get("Retry-After"), time.Now()); ok {
		return Throttled(err, d)
	}
	return err
}

// HTTPStatusError is the cause of an error made by FromHTTPResponse.
type HTTPStatusError struct {
	Code int
	Body string
}

func (e *HTTPStatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

// HTTPStatus returns the status code of an error made by FromHTTPResponse.
func HTTPStatus(err error) (int, bool) {
	var h *HTTPStatusError
	if errors.As(err, &h) {
		return h.Code, true
	}
	return 0, false
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date relative to now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Cap absurd values so the multiplication cannot overflow.
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
