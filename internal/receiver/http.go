package receiver

import (
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

const (
	transportHTTP = "http"
	ctProtobuf    = "application/x-protobuf"
	ctJSON        = "application/json"
)

func (r *Receiver) newHTTPServer() *http.Server {
	srv := &http.Server{
		Handler:           r.httpH,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute, // a 16 MiB body over a slow link, not a slowloris
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				r.metrics.ConnDelta(transportHTTP, 1)
			case http.StateClosed, http.StateHijacked:
				r.metrics.ConnDelta(transportHTTP, -1)
			}
		},
	}
	if r.tls != nil {
		srv.TLSConfig = r.tls.Clone()
	}
	return srv
}

// newHTTPHandler routes the three OTLP paths; every answer, errors included, is an OTLP
// message (a google.rpc.Status for errors) in the request's encoding.
func (r *Receiver) newHTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		json := isJSON(req.Header.Get("Content-Type"))
		sig, ok := signalOfPath(req.URL.Path)
		if !ok || r.consumers[sig] == nil {
			writeStatus(w, json, outcome{code: codes.NotFound, msg: "unknown path " + strconv.Quote(req.URL.Path) +
				" (OTLP/HTTP serves POST /v1/traces, /v1/metrics and /v1/logs)"})
			return
		}
		o := r.serveExport(w, req, sig, json)
		r.metrics.Request(transportHTTP, sig, strconv.Itoa(o.status()), time.Since(start))
	})
}

func signalOfPath(p string) (pipeline.Signal, bool) {
	switch p {
	case "/v1/traces":
		return pipeline.SignalTraces, true
	case "/v1/metrics":
		return pipeline.SignalMetrics, true
	case "/v1/logs":
		return pipeline.SignalLogs, true
	}
	return 0, false
}

func isJSON(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == ctJSON
}

// serveExport answers one export request and returns its outcome for the metrics.
func (r *Receiver) serveExport(w http.ResponseWriter, req *http.Request, sig pipeline.Signal, json bool) outcome {
	o := r.handleHTTP(w, req, sig, json)
	if o.code != codes.OK {
		writeStatus(w, json, o)
		return o
	}
	resp := successResponse(sig, &o)
	var body []byte
	var err error
	if json {
		body, err = resp.MarshalJSON()
	} else {
		body, err = resp.MarshalProto()
	}
	if err != nil {
		o = failure(codes.Internal, "encoding the response: "+err.Error())
		o.httpStatus = http.StatusInternalServerError
		writeStatus(w, json, o)
		return o
	}
	writeBody(w, json, http.StatusOK, body)
	return o
}

func (r *Receiver) handleHTTP(w http.ResponseWriter, req *http.Request, sig pipeline.Signal, json bool) outcome {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.metrics.Error(transportHTTP, sig, "method")
		return httpFailure(http.StatusMethodNotAllowed, codes.Unimplemented, "method "+req.Method+" not allowed, use POST")
	}
	if !r.auth.Allow(req.Header.Get("Authorization")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="otlp"`)
		r.metrics.Error(transportHTTP, sig, "unauthenticated")
		return failure(codes.Unauthenticated, "missing or invalid bearer token")
	}
	if r.sem != nil {
		select {
		case r.sem <- struct{}{}:
			defer func() { <-r.sem }()
		default:
			r.metrics.Error(transportHTTP, sig, "concurrency")
			o := failure(codes.Unavailable, "too many concurrent requests, retry later")
			o.retryAfter = unavailableDelay
			return o
		}
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != ctProtobuf && mt != ctJSON {
		r.metrics.Error(transportHTTP, sig, "content_type")
		return httpFailure(http.StatusUnsupportedMediaType, codes.InvalidArgument,
			"unsupported Content-Type "+strconv.Quote(req.Header.Get("Content-Type"))+" (want "+ctProtobuf+" or "+ctJSON+")")
	}

	raw, wire := r.getBuffer(), r.getBuffer()
	defer r.putBuffer(raw)
	defer r.putBuffer(wire)
	body, spare, o, ok := r.readBody(req, raw, wire)
	if !ok {
		r.metrics.Error(transportHTTP, sig, "body")
		return o
	}
	if json {
		var err error
		if body, err = jsonToProto(sig, body); err != nil {
			r.metrics.Error(transportHTTP, sig, "malformed")
			r.logClientError(transportHTTP, sig, err)
			return failure(codes.InvalidArgument, "invalid JSON "+sig.String()+" request: "+err.Error())
		}
	}
	ctx, cancel := r.requestContext(req.Context())
	defer cancel()
	return r.export(ctx, transportHTTP, sig, body, spare)
}

func httpFailure(httpStatus int, code codes.Code, msg string) outcome {
	o := failure(code, msg)
	o.httpStatus = httpStatus
	return o
}

// jsonToProto turns an OTLP/JSON request into protobuf wire form, through pdata.
func jsonToProto(sig pipeline.Signal, body []byte) ([]byte, error) {
	type request interface {
		UnmarshalJSON([]byte) error
		MarshalProto() ([]byte, error)
	}
	var req request
	switch sig {
	case pipeline.SignalTraces:
		req = ptraceotlp.NewExportRequest()
	case pipeline.SignalMetrics:
		req = pmetricotlp.NewExportRequest()
	default:
		req = plogotlp.NewExportRequest()
	}
	if err := req.UnmarshalJSON(body); err != nil {
		return nil, err
	}
	return req.MarshalProto()
}

// writeStatus answers an error with a google.rpc.Status in the request's encoding, and the
// Retry-After header when the client should come back.
func writeStatus(w http.ResponseWriter, json bool, o outcome) {
	st := &spb.Status{Code: int32(o.code), Message: o.msg}
	for _, d := range o.details() {
		if a, err := anypb.New(d); err == nil {
			st.Details = append(st.Details, a)
		}
	}
	var body []byte
	var err error
	if json {
		body, err = protojson.Marshal(st)
	} else {
		body, err = proto.Marshal(st)
	}
	if err != nil { // a Status of strings and known details always encodes
		body = nil
	}
	if o.retryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterHeader(o.retryAfter))
	}
	writeBody(w, json, o.status(), body)
}

func writeBody(w http.ResponseWriter, json bool, status int, body []byte) {
	ct := ctProtobuf
	if json {
		ct = ctJSON
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// preallocMax bounds what a request's Content-Length may reserve before its bytes arrive.
const preallocMax = 64 << 10

// errTooLarge reports a body over the limit, as sent or once decompressed.
var errTooLarge = errors.New("request body too large")

// readBody reads the request body into raw and, when compressed, decompresses it into wire,
// enforcing the size limit on both. It returns the body and the buffer left free for export's
// rewriting, or the outcome to answer with.
func (r *Receiver) readBody(req *http.Request, raw, wire *[]byte) (body []byte, spare *[]byte, o outcome, ok bool) {
	limitMiB := strconv.Itoa(r.cfg.HTTP.MaxRequestBodyMiB)
	if req.ContentLength > int64(r.maxBody) {
		return nil, nil, httpFailure(http.StatusRequestEntityTooLarge, codes.InvalidArgument,
			"request body of "+strconv.FormatInt(req.ContentLength, 10)+" bytes exceeds the limit of "+limitMiB+" MiB"), false
	}
	if req.ContentLength > 0 {
		// Room for what is announced, up to preallocMax: memory follows the bytes that really
		// arrive, so headers announcing 16 MiB followed by a trickle cost next to nothing. The
		// pooled buffers keep their capacity, so large bodies stop regrowing once warm.
		*raw = slices.Grow((*raw)[:0], int(min(req.ContentLength+1, preallocMax))) // +1: room to see EOF
	}
	var err error
	if *raw, err = readLimited(req.Body, (*raw)[:0], r.maxBody, int(max(req.ContentLength, 0))); err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, nil, httpFailure(http.StatusRequestEntityTooLarge, codes.InvalidArgument,
				"request body exceeds the limit of "+limitMiB+" MiB"), false
		}
		return nil, nil, failure(codes.InvalidArgument, "reading the request body: "+err.Error()), false
	}
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return *raw, wire, outcome{}, true
	case "gzip", "zstd", "deflate", "zlib":
		if *wire, err = r.decompress(enc, *raw, (*wire)[:0]); err != nil {
			if errors.Is(err, errTooLarge) {
				return nil, nil, httpFailure(http.StatusRequestEntityTooLarge, codes.InvalidArgument,
					"decompressed request body exceeds the limit of "+limitMiB+" MiB"), false
			}
			return nil, nil, failure(codes.InvalidArgument, "invalid "+enc+" body: "+err.Error()), false
		}
		return *wire, raw, outcome{}, true
	default:
		return nil, nil, httpFailure(http.StatusUnsupportedMediaType, codes.InvalidArgument,
			"unsupported Content-Encoding "+strconv.Quote(enc)+" (want gzip, zstd, deflate or none)"), false
	}
}
