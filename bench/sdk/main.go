// Command sdk compares the otlp SDK with the official OpenTelemetry Go SDK (BatchSpanProcessor
// + otlptracegrpc, defaults) against the same in-process OTLP/gRPC server: the cost of one span
// (start, 4 attributes, end) and what each loses when spans are made at full speed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the sink accepts gzip
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/otlp"
)

// sink counts the spans it receives without decoding them into objects, so that its own
// allocations (counted by testing.Benchmark with the SDK's) stay small.
type sink struct{ spans atomic.Int64 }

func (s *sink) handle(_ any, stream grpc.ServerStream) error {
	var f grpcraw.Frame
	if err := stream.RecvMsg(&f); err != nil {
		return err
	}
	if m, _ := grpc.MethodFromServerStream(stream); m == grpcraw.TracesMethod {
		s.spans.Add(int64(countSpans(f.Body)))
	}
	return stream.SendMsg(&grpcraw.Frame{})
}

// countSpans counts ExportTraceServiceRequest.resource_spans[].scope_spans[].spans[].
func countSpans(b []byte) int {
	n := 0
	each(b, 1, func(rs []byte) { each(rs, 2, func(ss []byte) { each(ss, 2, func([]byte) { n++ }) }) })
	return n
}

// each calls f with every length-delimited field number field of message b.
func each(b []byte, field protowire.Number, f func([]byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if typ == protowire.BytesType && num == field {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return
			}
			f(v)
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return
		}
		b = b[m:]
	}
}

func startSink() (*sink, string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := &sink{}
	gs := grpc.NewServer(grpc.ForceServerCodecV2(grpcraw.Codec{}), grpc.UnknownServiceHandler(s.handle))
	go func() { _ = gs.Serve(ln) }()
	return s, ln.Addr().String(), gs.Stop
}

type tracerSetup struct {
	tracer   trace.Tracer
	shutdown func(context.Context) error
	stats    func() (exported, dropped int64) // ours only
}

func official(ctx context.Context, addr string) tracerSetup {
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
	if err != nil {
		panic(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	return tracerSetup{tracer: tp.Tracer("bench"), shutdown: tp.Shutdown}
}

func ours(ctx context.Context, addr string) tracerSetup {
	c, err := otlp.New(ctx, otlp.WithEnv(nil), otlp.WithEndpoint(addr), otlp.WithInsecure(),
		otlp.WithCompression("none"), otlp.WithMetricInterval(time.Hour),
		otlp.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	return tracerSetup{tracer: c.Tracer("bench"), shutdown: c.Shutdown, stats: func() (int64, int64) {
		st := c.Stats()
		return st.Traces.Exported, st.Traces.DroppedTotal()
	}}
}

var attrs = []attribute.KeyValue{
	attribute.String("http.request.method", "GET"), attribute.String("url.path", "/api/v1/items"),
	attribute.Int("http.response.status_code", 200), attribute.Bool("cache.hit", true),
}

func span(ctx context.Context, tr trace.Tracer) {
	_, sp := tr.Start(ctx, "GET /api/v1/items")
	sp.SetAttributes(attrs...)
	sp.End()
}

func perSpan(mk func(context.Context, string) tracerSetup) testing.BenchmarkResult {
	ctx := context.Background()
	_, addr, stop := startSink()
	defer stop()
	s := mk(ctx, addr)
	defer s.shutdown(ctx)
	return testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			span(ctx, s.tracer)
		}
	})
}

// burst makes n spans as fast as one goroutine can and reports what reached the sink.
func burst(mk func(context.Context, string) tracerSetup, n int) (received, exported, dropped int64, d time.Duration) {
	ctx := context.Background()
	snk, addr, stop := startSink()
	defer stop()
	s := mk(ctx, addr)
	start := time.Now()
	for range n {
		span(ctx, s.tracer)
	}
	d = time.Since(start)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_ = s.shutdown(sctx)
	if s.stats != nil {
		exported, dropped = s.stats()
	}
	return snk.spans.Load(), exported, dropped, d
}

func main() {
	n := flag.Int("spans", 200_000, "spans in the full-speed burst")
	rounds := flag.Int("rounds", 3, "per-span measurements of each SDK (the median is kept)")
	flag.Parse()

	var oursNs, theirsNs, oursAllocs, theirsAllocs []float64
	for range *rounds {
		t := perSpan(official)
		o := perSpan(ours)
		fmt.Printf("per-span official: %s %d allocs/op\n", t, t.AllocsPerOp())
		fmt.Printf("per-span ours:     %s %d allocs/op\n", o, o.AllocsPerOp())
		theirsNs = append(theirsNs, float64(t.NsPerOp()))
		oursNs = append(oursNs, float64(o.NsPerOp()))
		theirsAllocs = append(theirsAllocs, float64(t.AllocsPerOp()))
		oursAllocs = append(oursAllocs, float64(o.AllocsPerOp()))
	}

	recvT, _, _, dT := burst(official, *n)
	droppedOfficial := int64(*n) - recvT
	fmt.Printf("burst official: %d spans in %s, %d received, %d dropped (%.0f%%, unreported: the BatchSpanProcessor counts nothing)\n",
		*n, dT.Round(time.Millisecond), recvT, droppedOfficial, 100*float64(droppedOfficial)/float64(*n))
	recvO, expO, dropO, dO := burst(ours, *n)
	unreported := int64(*n) - expO - dropO
	fmt.Printf("burst ours:     %d spans in %s, %d received, %d exported, %d dropped (counted), %d unreported\n",
		*n, dO.Round(time.Millisecond), recvO, expO, dropO, unreported)
	if recvO != expO {
		fmt.Fprintf(os.Stderr, "warning: the sink received %d spans, the client counted %d exported\n", recvO, expO)
	}
	fmt.Printf("ratio sdk ns_per_span=%.2f allocs_per_span=%.2f dropped_official=%d dropped_ours=%d unreported_ours=%d\n",
		median(oursNs)/median(theirsNs), median(oursAllocs)/median(theirsAllocs), droppedOfficial, dropO, unreported)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
