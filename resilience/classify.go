package resilience

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind is the class of a classified error. A Kind is itself an error so that
// errors.Is(err, resilience.KindTransport) tells whether err was classified as such.
type Kind uint8

const (
	KindUnknown Kind = iota
	// KindTransport: the network or the peer failed (connection refused, 503, Unavailable).
	KindTransport
	// KindConfiguration: our settings are wrong; fixing them needs a human.
	KindConfiguration
	// KindDataProcessing: the data could not be decoded, transformed or accepted.
	KindDataProcessing
	// KindExporter: an exporter refused or lost data for a reason of its own.
	KindExporter
	// KindSystem: the host ran short (memory, disk, file descriptors) or an invariant broke.
	KindSystem
)

var kindNames = [...]string{"unknown", "transport", "configuration", "data_processing", "exporter", "system"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error makes a Kind usable as an errors.Is target.
func (k Kind) Error() string { return k.String() + " error" }

// Severity ranks how urgently a human should look at an error.
type Severity uint8

const (
	SeverityLow Severity = iota + 1
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

func (s Severity) String() string {
	switch s {
	case SeverityLow:
		return "low"
	case SeverityMedium:
		return "medium"
	case SeverityHigh:
		return "high"
	case SeverityCritical:
		return "critical"
	}
	return "unknown"
}

// Error is a classified error: what kind of failure, how severe, whether retrying can help,
// what to do about it, and where and when it happened. It wraps the cause.
type Error struct {
	Kind       Kind
	Severity   Severity
	Retryable  bool
	Suggestion string
	// Op is the operation that failed, e.g. "export traces to collector:4317".
	Op   string
	Time time.Time
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	b.WriteString(" error")
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the error's Kind, so errors.Is(err, KindTransport) works through any wrapping.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// kindDefaults holds what a fresh error of each kind starts with.
var kindDefaults = [...]struct {
	severity   Severity
	retryable  bool
	suggestion string
}{
	KindUnknown:        {SeverityMedium, true, "inspect the wrapped error"},
	KindTransport:      {SeverityMedium, true, "check that the endpoint is reachable and healthy; the call will be retried"},
	KindConfiguration:  {SeverityHigh, false, "fix the configuration and reload; retrying will not help"},
	KindDataProcessing: {SeverityMedium, false, "the data is malformed or was rejected; check the sender"},
	KindExporter:       {SeverityMedium, true, "check the exporter's destination and its limits"},
	KindSystem:         {SeverityCritical, true, "check host resources (memory, disk, file descriptors)"},
}

// NewError classifies err as kind, with that kind's default severity, retryability and
// suggestion. A nil err stays nil. Change the fields of the result to refine them.
func NewError(kind Kind, op string, err error) *Error {
	if err == nil {
		return nil
	}
	d := kindDefaults[KindUnknown]
	if int(kind) < len(kindDefaults) {
		d = kindDefaults[kind]
	}
	return &Error{
		Kind: kind, Severity: d.severity, Retryable: d.retryable, Suggestion: d.suggestion,
		Op: op, Time: time.Now(), Err: err,
	}
}

// classified returns nil for a nil err so that callers can write `return TransportError(op, err)`.
func classified(kind Kind, op string, err error) error {
	if err == nil {
		return nil
	}
	return NewError(kind, op, err)
}

// TransportError classifies err as a retryable transport failure of op.
func TransportError(op string, err error) error { return classified(KindTransport, op, err) }

// ConfigurationError classifies err as a permanent configuration mistake.
func ConfigurationError(op string, err error) error {
	return classified(KindConfiguration, op, err)
}

// DataProcessingError classifies err as a permanent problem with the data itself.
func DataProcessingError(op string, err error) error {
	return classified(KindDataProcessing, op, err)
}

// ExporterError classifies err as a retryable exporter failure.
func ExporterError(op string, err error) error { return classified(KindExporter, op, err) }

// SystemError classifies err as a critical, retryable resource problem of the host.
func SystemError(op string, err error) error { return classified(KindSystem, op, err) }

// KindOf returns the Kind of the outermost classified error in err's chain.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// SeverityOf returns the Severity of the outermost classified error, or SeverityMedium.
func SeverityOf(err error) Severity {
	var e *Error
	if errors.As(err, &e) && e.Severity != 0 {
		return e.Severity
	}
	return SeverityMedium
}

// SuggestionOf returns the recovery suggestion of the outermost classified error.
func SuggestionOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Suggestion
	}
	return ""
}

// IsRetryable is the default retry classification:
//   - nil, Permanent errors, non-retryable classified errors and context.Canceled: false;
//   - errors carrying a gRPC status: by code, as OTLP specifies (see FromGRPCStatus);
//   - everything else, including Throttled errors and timeouts: true.
func IsRetryable(err error) bool {
	if err == nil || IsPermanent(err) || errors.Is(err, context.Canceled) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	if _, ok := RetryAfter(err); ok {
		return true
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		if st := gs.GRPCStatus(); st != nil && st.Code() != codes.OK {
			return grpcRetryable(st.Code(), retryInfoDelay(st) >= 0)
		}
	}
	return true
}

// IsFailure is the default breaker and degrader classification: an error counts against the
// dependency unless the caller cancelled, or the dependency answered with a permanent error
// (it is up; the request was bad).
func IsFailure(err error) bool {
	return err != nil && !errors.Is(err, context.Canceled) && !IsPermanent(err)
}
