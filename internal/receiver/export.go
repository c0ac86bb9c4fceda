package receiver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otlp-dev/otlp/internal/otlpwire"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// maxEmptyEnvelopes bounds the resource and scope envelopes without items a request may carry.
const maxEmptyEnvelopes = 1024

// names is what a signal's items are called, for messages.
func names(sig pipeline.Signal) string {
	switch sig {
	case pipeline.SignalTraces:
		return "spans"
	case pipeline.SignalMetrics:
		return "data points"
	}
	return "log records"
}

// unavailableDelay is the retry delay suggested when the pipeline fails without saying when to
// come back.
const unavailableDelay = time.Second

// outcome is the transport-neutral result of one export request.
type outcome struct {
	code       codes.Code
	msg        string        // for errors
	retryAfter time.Duration // ResourceExhausted and Unavailable
	violation  *errdetails.BadRequest_FieldViolation
	rejected   int    // partial success: items dropped as invalid
	partialMsg string // partial success: why
	httpStatus int    // overrides the status derived from code (405, 413, 415)
}

// failure is an error outcome. The message may quote client bytes (JSON decoder errors do), and
// google.rpc.Status wants valid UTF-8, so invalid sequences are replaced.
func failure(code codes.Code, msg string) outcome {
	return outcome{code: code, msg: strings.ToValidUTF8(msg, "\uFFFD")}
}

// status is the HTTP status of o.
func (o *outcome) status() int {
	if o.httpStatus != 0 {
		return o.httpStatus
	}
	switch o.code {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.NotFound, codes.Unimplemented:
		return http.StatusNotFound
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// details are the google.rpc.Status details of o: RetryInfo or BadRequest.
func (o *outcome) details() []proto.Message {
	switch {
	case o.retryAfter > 0:
		return []proto.Message{&errdetails.RetryInfo{RetryDelay: durationpb.New(o.retryAfter)}}
	case o.violation != nil:
		return []proto.Message{&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{o.violation}}}
	}
	return nil
}

// retryAfterHeader renders a delay as whole seconds, rounded up, at least 1.
func retryAfterHeader(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// badData is the outcome of a payload that cannot be accepted at all.
func badData(what string, err error) outcome {
	o := failure(codes.InvalidArgument, what+": "+err.Error())
	var me *otlpwire.MalformedError
	if errors.As(err, &me) {
		o.violation = &errdetails.BadRequest_FieldViolation{Field: me.Path, Description: me.Problem}
	}
	return o
}

// export validates an export request in protobuf wire form and hands it to the signal's
// pipeline. scratch is reused for the rewritten body when invalid spans are dropped; body and
// *scratch stay valid only until export returns (the consumer contract).
func (r *Receiver) export(ctx context.Context, transport string, sig pipeline.Signal, body []byte, scratch *[]byte) outcome {
	sum, err := otlpwire.Scan(sig, body)
	if err != nil {
		r.metrics.Error(transport, sig, "malformed")
		r.logClientError(transport, sig, err)
		return badData("malformed "+sig.String()+" request", err)
	}
	if empty := max(sum.Resources, sum.Scopes) - sum.Items; empty > maxEmptyEnvelopes {
		// Envelopes without items carry nothing, but every stage that walks or splits the
		// request pays for each: millions of them in 16 MiB amplify into gigabytes of layout.
		r.metrics.Error(transport, sig, "malformed")
		err := fmt.Errorf("%d resource or scope envelopes hold no %s (at most %d empty ones are accepted): %d resources, %d scopes, %d items",
			empty, names(sig), maxEmptyEnvelopes, sum.Resources, sum.Scopes, sum.Items)
		r.logClientError(transport, sig, err)
		return failure(codes.InvalidArgument, "rejected "+sig.String()+" request: "+err.Error())
	}
	var o outcome
	if sum.Invalid > 0 {
		out, dropped, err := otlpwire.DropInvalid(sig, body, (*scratch)[:0])
		if err != nil { // cannot happen after Scan accepted the body
			return badData("malformed "+sig.String()+" request", err)
		}
		*scratch, body = out, out
		r.metrics.Dropped(sig, selftel.ReasonInvalid, dropped)
		o.rejected = dropped
		o.partialMsg = fmt.Sprintf("%d of %d spans rejected: trace_id or span_id missing or all zeros", dropped, sum.Items)
	}
	items := sum.Items - sum.Invalid
	if items == 0 {
		return o // nothing to forward: an empty request, or every span was invalid
	}
	if err := ctx.Err(); err != nil {
		// The sender gave up before the request was read (its deadline passed, or it reset
		// the stream: typically a partition that held the request back). It sends the data
		// again; accepting it now would deliver it twice.
		r.metrics.Error(transport, sig, "canceled")
		return failure(codes.Canceled, "request canceled by the sender before it was accepted: "+err.Error())
	}
	cons := r.consumers[sig]
	if r.cfg.MaxWait > 0 {
		// A full pipeline holds the request at most this long, then it is answered with a
		// retry delay instead of hanging until the sender gives up.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.MaxWait)
		defer cancel()
	}
	err = cons.Consume(ctx, pipeline.Batch{Signal: sig, Body: body, Items: items})
	if err == nil {
		r.metrics.Received(sig, transport, items)
		return o
	}
	if resilience.IsPermanent(err) {
		r.metrics.Error(transport, sig, "rejected")
		r.logServerError(transport, sig, items, err)
		return failure(codes.InvalidArgument, "rejected by the pipeline: "+err.Error())
	}
	if d, ok := resilience.RetryAfter(err); ok {
		r.metrics.Refused(sig, "throttled", items)
		r.metrics.Error(transport, sig, "throttled")
		r.logServerError(transport, sig, items, err)
		o := failure(codes.ResourceExhausted, "throttled, retry later: "+err.Error())
		o.retryAfter = max(d, time.Millisecond)
		return o
	}
	r.metrics.Refused(sig, "unavailable", items)
	r.metrics.Error(transport, sig, "unavailable")
	r.logServerError(transport, sig, items, err)
	o = failure(codes.Unavailable, "pipeline unavailable, retry later: "+err.Error())
	o.retryAfter = unavailableDelay
	return o
}

// exportResponse is what export's outcome is answered with on success.
type exportResponse interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

// successResponse builds the Export*ServiceResponse for o, with partial_success when some
// items were rejected.
func successResponse(sig pipeline.Signal, o *outcome) exportResponse {
	switch sig {
	case pipeline.SignalTraces:
		resp := ptraceotlp.NewExportResponse()
		if o.rejected > 0 {
			resp.PartialSuccess().SetRejectedSpans(int64(o.rejected))
			resp.PartialSuccess().SetErrorMessage(o.partialMsg)
		}
		return resp
	case pipeline.SignalMetrics:
		resp := pmetricotlp.NewExportResponse()
		if o.rejected > 0 {
			resp.PartialSuccess().SetRejectedDataPoints(int64(o.rejected))
			resp.PartialSuccess().SetErrorMessage(o.partialMsg)
		}
		return resp
	}
	resp := plogotlp.NewExportResponse()
	if o.rejected > 0 {
		resp.PartialSuccess().SetRejectedLogRecords(int64(o.rejected))
		resp.PartialSuccess().SetErrorMessage(o.partialMsg)
	}
	return resp
}
