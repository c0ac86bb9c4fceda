package otlpgrpc

import (
	"bytes"
	stdgzip "compress/gzip"
	"testing"

	"github.com/otlp-dev/otlp/internal/testutil"
)

// BenchmarkCompress512Spans compares the compressors on a 512-span request: the standard
// library's gzip (what grpc/encoding/gzip uses), klauspost's gzip and zstd (what this package
// uses). out-bytes is the compressed size.
func BenchmarkCompress512Spans(b *testing.B) {
	body := testutil.TracesBatch(testutil.Traces(4, 128, 0)).Body
	var buf bytes.Buffer
	b.Run("stdlib-gzip", func(b *testing.B) {
		w := stdgzip.NewWriter(&buf)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			w.Reset(&buf)
			_, _ = w.Write(body)
			_ = w.Close()
		}
		b.ReportMetric(float64(buf.Len()), "out-bytes")
	})
	b.Run("gzip", func(b *testing.B) {
		c := &gzipCompressor{}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := c.Do(&buf, body); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "out-bytes")
	})
	b.Run("zstd", func(b *testing.B) {
		z, err := newZstd()
		if err != nil {
			b.Fatal(err)
		}
		defer z.close()
		c := zstdCompressor{z}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := c.Do(&buf, body); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "out-bytes")
	})
}
