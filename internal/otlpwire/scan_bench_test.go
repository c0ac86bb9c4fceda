package otlpwire

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// 512 spans with 10 attributes each: the comparison the package exists for.
var benchShape = shape{resources: 1, scopes: 2, items: 256, attrs: 10}

func BenchmarkScan(b *testing.B) {
	body := gen(b, pipeline.SignalTraces, 1, benchShape)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Scan(pipeline.SignalTraces, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPdataUnmarshal(b *testing.B) {
	body := gen(b, pipeline.SignalTraces, 1, benchShape)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanMetrics(b *testing.B) {
	body := gen(b, pipeline.SignalMetrics, 1, shape{resources: 1, scopes: 2, items: 256, attrs: 5})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Scan(pipeline.SignalMetrics, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPdataUnmarshalMetrics(b *testing.B) {
	body := gen(b, pipeline.SignalMetrics, 1, shape{resources: 1, scopes: 2, items: 256, attrs: 5})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplit(b *testing.B) {
	body := gen(b, pipeline.SignalTraces, 1, benchShape)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		err := Split(pipeline.SignalTraces, body, 100, 0, func([]byte, int) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDropInvalid(b *testing.B) {
	sh := benchShape
	sh.invalidEvery = 10
	body := gen(b, pipeline.SignalTraces, 1, sh)
	dst := make([]byte, 0, len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := DropInvalid(pipeline.SignalTraces, body, dst[:0])
		if err != nil {
			b.Fatal(err)
		}
		dst = out
	}
}
