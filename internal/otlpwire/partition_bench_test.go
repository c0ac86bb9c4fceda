package otlpwire

import (
	"testing"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// BenchmarkPartition cuts 512 spans of 64 traces into 4 parts by trace id, as the load
// balancer does with consistent hashing over 4 collectors.
func BenchmarkPartition(b *testing.B) {
	body := sharedTraces(b, 1, benchShape, 64)
	keyOf := func(key []byte) int { return int(key[15]) % 4 }
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		err := Partition(pipeline.SignalTraces, body, 4, keyOf, func(int, []byte, int) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
}
