// Package otlpmsg decodes and re-encodes OTLP export requests and responses for the exporters
// that need more than the raw protobuf bytes: JSON output, detailed logging, partial success.
package otlpmsg

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// ErrMalformed is matched by every decoding error of this package.
var ErrMalformed = errors.New("malformed OTLP message")

// Request is a decoded export request; the field matching Signal is set.
type Request struct {
	Signal  pipeline.Signal
	Traces  ptrace.Traces
	Metrics pmetric.Metrics
	Logs    plog.Logs
}

// Decode parses a protobuf Export*ServiceRequest of signal sig.
func Decode(sig pipeline.Signal, body []byte) (Request, error) {
	r := Request{Signal: sig}
	var err error
	switch sig {
	case pipeline.SignalTraces:
		req := ptraceotlp.NewExportRequest()
		err = req.UnmarshalProto(body)
		r.Traces = req.Traces()
	case pipeline.SignalMetrics:
		req := pmetricotlp.NewExportRequest()
		err = req.UnmarshalProto(body)
		r.Metrics = req.Metrics()
	case pipeline.SignalLogs:
		req := plogotlp.NewExportRequest()
		err = req.UnmarshalProto(body)
		r.Logs = req.Logs()
	default:
		return r, fmt.Errorf("%w: unknown signal %s", ErrMalformed, sig)
	}
	if err != nil {
		return r, fmt.Errorf("%w: %s request: %w", ErrMalformed, sig, err)
	}
	return r, nil
}

// Items counts spans, metric data points or log records.
func (r Request) Items() int {
	switch r.Signal {
	case pipeline.SignalTraces:
		return r.Traces.SpanCount()
	case pipeline.SignalMetrics:
		return r.Metrics.DataPointCount()
	case pipeline.SignalLogs:
		return r.Logs.LogRecordCount()
	}
	return 0
}

// MarshalJSON encodes the request in OTLP/JSON, the form OTLP/HTTP and the collector's
// otlpjsonfile receiver read.
func (r Request) MarshalJSON() ([]byte, error) {
	switch r.Signal {
	case pipeline.SignalTraces:
		return ptraceotlp.NewExportRequestFromTraces(r.Traces).MarshalJSON()
	case pipeline.SignalMetrics:
		return pmetricotlp.NewExportRequestFromMetrics(r.Metrics).MarshalJSON()
	case pipeline.SignalLogs:
		return plogotlp.NewExportRequestFromLogs(r.Logs).MarshalJSON()
	}
	return nil, fmt.Errorf("otlpmsg: unknown signal %s", r.Signal)
}

// ToJSON converts a protobuf request to OTLP/JSON.
func ToJSON(sig pipeline.Signal, body []byte) ([]byte, error) {
	r, err := Decode(sig, body)
	if err != nil {
		return nil, err
	}
	line, err := r.MarshalJSON()
	if err != nil || utf8.Valid(line) {
		return line, err
	}
	// OTLP senders do send strings that are not UTF-8, and pdata writes their bytes as they
	// are; JSON must be UTF-8, so each run of bad bytes becomes U+FFFD (as encoding/json does).
	return bytes.ToValidUTF8(line, []byte("\uFFFD")), nil
}

// CountResources counts the resource entries of a protobuf request without decoding them:
// every Export*ServiceRequest holds them as its field 1.
func CountResources(body []byte) (int, error) {
	n := 0
	for len(body) > 0 {
		num, typ, l := protowire.ConsumeTag(body)
		if l < 0 {
			return n, fmt.Errorf("%w: %w", ErrMalformed, protowire.ParseError(l))
		}
		body = body[l:]
		m := protowire.ConsumeFieldValue(num, typ, body)
		if m < 0 {
			return n, fmt.Errorf("%w: %w", ErrMalformed, protowire.ParseError(m))
		}
		body = body[m:]
		if num == 1 && typ == protowire.BytesType {
			n++
		}
	}
	return n, nil
}

// PartialSuccess is the partial_success field of an export response: Rejected items were
// refused for good, with Message saying why.
type PartialSuccess struct {
	Rejected int64
	Message  string
}

// DecodeResponse reads the partial_success of an Export*ServiceResponse in protobuf form, or
// in OTLP/JSON when json is true. An empty body is a full success.
func DecodeResponse(sig pipeline.Signal, body []byte, json bool) (PartialSuccess, error) {
	if len(body) == 0 {
		return PartialSuccess{}, nil
	}
	var (
		ps  PartialSuccess
		err error
	)
	unmarshal := func(proto, js func([]byte) error) error {
		if json {
			return js(body)
		}
		return proto(body)
	}
	switch sig {
	case pipeline.SignalTraces:
		resp := ptraceotlp.NewExportResponse()
		err = unmarshal(resp.UnmarshalProto, resp.UnmarshalJSON)
		ps = PartialSuccess{resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage()}
	case pipeline.SignalMetrics:
		resp := pmetricotlp.NewExportResponse()
		err = unmarshal(resp.UnmarshalProto, resp.UnmarshalJSON)
		ps = PartialSuccess{resp.PartialSuccess().RejectedDataPoints(), resp.PartialSuccess().ErrorMessage()}
	case pipeline.SignalLogs:
		resp := plogotlp.NewExportResponse()
		err = unmarshal(resp.UnmarshalProto, resp.UnmarshalJSON)
		ps = PartialSuccess{resp.PartialSuccess().RejectedLogRecords(), resp.PartialSuccess().ErrorMessage()}
	default:
		return ps, fmt.Errorf("%w: unknown signal %s", ErrMalformed, sig)
	}
	if err != nil {
		return PartialSuccess{}, fmt.Errorf("%w: %s response: %w", ErrMalformed, sig, err)
	}
	return ps, nil
}
