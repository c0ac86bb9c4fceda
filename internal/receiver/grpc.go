package receiver

import (
	"context"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed requests (the OTel exporters' default)
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

const transportGRPC = "grpc"

var grpcMethods = [...]string{
	pipeline.SignalTraces:  grpcraw.TracesMethod,
	pipeline.SignalMetrics: grpcraw.MetricsMethod,
	pipeline.SignalLogs:    grpcraw.LogsMethod,
}

func (r *Receiver) newGRPCServer() *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(grpcraw.Codec{}),
		grpc.MaxRecvMsgSize(r.cfg.GRPC.MaxRecvMsgSizeMiB << 20),
		grpc.MaxConcurrentStreams(r.cfg.GRPC.MaxConcurrentStreams),
		grpc.StatsHandler(connCounter{r.metrics}),
		// Export requests are large (tens to hundreds of KiB): bigger socket reads and
		// flow-control windows mean fewer syscalls and WINDOW_UPDATE round trips per request.
		// gRPC pools read buffers per size and keeps several alive (per P, and a GC's worth
		// more); 64 KiB held ~0.45 MiB less than 256 KiB at the same CPU per span.
		grpc.ReadBufferSize(64 << 10),
		grpc.InitialWindowSize(1 << 20),
		grpc.InitialConnWindowSize(4 << 20),
		// A pool of long-lived stream goroutines: a fresh goroutine per request grows its
		// stack again on every Export (copystack was ~3% of the CPU under load). The server
		// stops the pool on Stop; requests beyond it still get their own goroutine.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		// Frame buffers recycled without gRPC's zeroing (see grpcraw.BufferPool).
		experimental.BufferPool(grpcraw.NewBufferPool()),
		// zstd, which the Collector's exporters offer beside gzip. gzip comes from gRPC's
		// registry; zstd is handed to this server alone rather than registered process-wide.
		grpc.RPCDecompressor(zstdDecompressor{r.grpcZstd}), //nolint:staticcheck // per-server on purpose
		// Connections that carry no RPC for this long are closed (GOAWAY; clients reconnect on
		// their next export), so that idle or abandoned connections do not pile up.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: r.cfg.GRPC.MaxConnectionIdle}),
	}
	if r.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(r.tls.Clone())))
	}
	srv := grpc.NewServer(opts...)
	for _, sig := range pipeline.Signals {
		if r.consumers[sig] != nil {
			srv.RegisterService(r.serviceDesc(sig), nil)
		}
	}
	return srv
}

// zstdDecompressor inflates a zstd-compressed gRPC message; the decoder bounds the output to
// the message size limit, so a small bomb fails without being inflated.
type zstdDecompressor struct{ dec *zstd.Decoder }

func (zstdDecompressor) Type() string { return "zstd" }

func (z zstdDecompressor) Do(r io.Reader) ([]byte, error) {
	in, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return z.dec.DecodeAll(in, nil)
}

// serviceDesc is the OTLP Export service of sig, hand-built so that requests arrive as raw
// *grpcraw.Frame bytes instead of generated messages.
func (r *Receiver) serviceDesc(sig pipeline.Signal) *grpc.ServiceDesc {
	service, method, _ := strings.Cut(strings.TrimPrefix(grpcMethods[sig], "/"), "/")
	return &grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: method,
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				return r.handleGRPC(ctx, sig, dec)
			},
		}},
	}
}

// emptyResponse is the encoding of an Export*ServiceResponse without partial success. It is
// only ever read.
var emptyResponse = &grpcraw.Frame{}

// handleGRPC serves one Export call: dec reads the request into a pooled frame.
func (r *Receiver) handleGRPC(ctx context.Context, sig pipeline.Signal, dec func(any) error) (any, error) {
	start := time.Now()
	o := r.exportGRPC(ctx, sig, dec)
	r.metrics.Request(transportGRPC, sig, o.code.String(), time.Since(start))
	if o.code != codes.OK {
		st := status.New(o.code, o.msg)
		if d := o.details(); len(d) > 0 {
			v1 := make([]protoadapt.MessageV1, len(d))
			for i, m := range d {
				v1[i] = protoadapt.MessageV1Of(m)
			}
			if withDetails, err := st.WithDetails(v1...); err == nil {
				st = withDetails
			}
		}
		return nil, st.Err()
	}
	if o.rejected == 0 {
		return emptyResponse, nil
	}
	b, err := successResponse(sig, &o).MarshalProto()
	if err != nil {
		return nil, status.Error(codes.Internal, "encoding the response: "+err.Error())
	}
	return &grpcraw.Frame{Body: b}, nil
}

func (r *Receiver) exportGRPC(ctx context.Context, sig pipeline.Signal, dec func(any) error) outcome {
	if r.auth.On() {
		md, _ := metadata.FromIncomingContext(ctx)
		if v := md.Get("authorization"); len(v) != 1 || !r.auth.Allow(v[0]) {
			r.metrics.Error(transportGRPC, sig, "unauthenticated")
			return failure(codes.Unauthenticated, "missing or invalid bearer token")
		}
	}
	frame := r.frames.Get().(*grpcraw.Frame)
	defer r.putFrame(frame)
	if err := dec(frame); err != nil {
		r.metrics.Error(transportGRPC, sig, "decode")
		if st, ok := status.FromError(err); ok {
			return failure(st.Code(), st.Message())
		}
		return failure(codes.InvalidArgument, err.Error())
	}
	ctx, cancel := r.requestContext(ctx)
	defer cancel()
	scratch := r.getBuffer()
	defer r.putBuffer(scratch)
	return r.export(ctx, transportGRPC, sig, frame.Body, scratch)
}

func (r *Receiver) putFrame(f *grpcraw.Frame) {
	if cap(f.Body) <= maxPooledBuffer {
		f.Body = f.Body[:0]
		r.frames.Put(f)
	}
}

// connCounter reports open gRPC connections to the self-metrics.
type connCounter struct{ m *selftel.Metrics }

func (connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (connCounter) HandleRPC(context.Context, stats.RPCStats)                         {}
func (connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (c connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	switch s.(type) {
	case *stats.ConnBegin:
		c.m.ConnDelta(transportGRPC, 1)
	case *stats.ConnEnd:
		c.m.ConnDelta(transportGRPC, -1)
	}
}
