package testutil

import (
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/otlp-dev/otlp/internal/grpcraw"
)

// NewNullServer starts an OTLP/gRPC server on 127.0.0.1 that answers every export with an
// empty success without decoding it (gzip and zstd requests accepted), for benchmarks of
// clients. It returns host:port; the server stops when the test ends.
func NewNullServer(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	zd := &zstdDecompressor{}
	tb.Cleanup(zd.close)
	s := grpc.NewServer(grpc.ForceServerCodecV2(grpcraw.Codec{}), grpc.RPCDecompressor(zd), //nolint:staticcheck // per-server zstd
		grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
			var f grpcraw.Frame
			if err := st.RecvMsg(&f); err != nil {
				return err
			}
			return st.SendMsg(&grpcraw.Frame{})
		}))
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Serve(l) })
	tb.Cleanup(func() { s.Stop(); wg.Wait() })
	return l.Addr().String()
}
