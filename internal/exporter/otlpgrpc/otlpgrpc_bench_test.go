package otlpgrpc_test

import (
	"net"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"

	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// nullServer answers every OTLP export with an empty success without decoding it, so that the
// benchmarks measure the clients.
func nullServer(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer(grpc.ForceServerCodecV2(grpcraw.Codec{}), grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
		var f grpcraw.Frame
		if err := st.RecvMsg(&f); err != nil {
			return err
		}
		return st.SendMsg(&grpcraw.Frame{})
	}))
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Serve(l) })
	b.Cleanup(func() { s.Stop(); wg.Wait() })
	return l.Addr().String()
}

// BenchmarkExport512Spans compares one synchronous export of a 512-span batch through this
// exporter (raw bytes, no queue, no retry) with pdata's ptraceotlp gRPC client (which
// encodes the request on every call) against the same server.
func BenchmarkExport512Spans(b *testing.B) {
	addr := nullServer(b)
	td := testutil.Traces(4, 128, 0)
	batch := testutil.TracesBatch(td)
	for _, comp := range []string{otlpgrpc.CompressionNone, otlpgrpc.CompressionGzip} {
		b.Run("otlpgrpc/"+comp, func(b *testing.B) {
			cfg := otlpgrpc.NewDefaultConfig()
			cfg.Endpoint, cfg.TLS.Insecure, cfg.Compression = addr, true, comp
			cfg.Queue.Enabled, cfg.Retry.Enabled = false, false
			exp, err := otlpgrpc.New(cfg, otlpgrpc.Settings{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			if err := exp.Start(b.Context()); err != nil {
				b.Fatal(err)
			}
			defer exp.Shutdown(b.Context())
			b.SetBytes(int64(len(batch.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := exp.Consume(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("pdata/"+comp, func(b *testing.B) {
			opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
			if comp == otlpgrpc.CompressionGzip {
				opts = append(opts, grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name)))
			}
			conn, err := grpc.NewClient(addr, opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := ptraceotlp.NewGRPCClient(conn)
			req := ptraceotlp.NewExportRequestFromTraces(td)
			b.SetBytes(int64(len(batch.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Export(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
