package otlpgrpc_test

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"

	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// BenchmarkExport512Spans compares one synchronous export of a 512-span batch through this
// exporter (raw bytes, no queue, no retry) with pdata's ptraceotlp gRPC client (which
// encodes the request on every call) against the same server.
func BenchmarkExport512Spans(b *testing.B) {
	addr := testutil.NewNullServer(b)
	td := testutil.Traces(4, 128, 0)
	batch := testutil.TracesBatch(td)
	for _, comp := range []string{otlpgrpc.CompressionNone, otlpgrpc.CompressionGzip, otlpgrpc.CompressionZstd} {
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
		if comp == otlpgrpc.CompressionZstd {
			continue // grpc-go registers no zstd compressor
		}
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
