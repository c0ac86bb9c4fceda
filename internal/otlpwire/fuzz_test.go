package otlpwire

import (
	"testing"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// The fuzzers check the differential property of checkBody on arbitrary bytes, seeded with
// pdata-encoded requests and a few hand-made edge cases.

func FuzzTraces(f *testing.F)  { fuzzSignal(f, pipeline.SignalTraces) }
func FuzzMetrics(f *testing.F) { fuzzSignal(f, pipeline.SignalMetrics) }
func FuzzLogs(f *testing.F)    { fuzzSignal(f, pipeline.SignalLogs) }

func fuzzSignal(f *testing.F, sig pipeline.Signal) {
	seeds := []shape{
		{},
		{resources: 1, scopes: 1, items: 1},
		{resources: 2, scopes: 2, items: 3, attrs: 2, invalidEvery: 2},
		{resources: 1, scopes: 3, items: 5, attrs: 5},
	}
	for i, sh := range seeds {
		f.Add(gen(f, sig, uint64(i), sh), uint8(i), uint16(64*i))
	}
	s := spanMsg(id(16, 1), id(8, 1))
	f.Add(fMsg(1, fMsg(1000, s), fMsg(2, s)), uint8(1), uint16(0))
	f.Add(tracesReq([][]byte{spanMsg(nil, id(8, 1)), s}), uint8(1), uint16(0))
	f.Add([]byte{}, uint8(0), uint16(0))
	f.Fuzz(func(t *testing.T, body []byte, maxItems uint8, maxBytes uint16) {
		checkBody(t, sig, body, int(maxItems), int(maxBytes))
	})
}

// FuzzPlainKeyValue: the attribute fast path accepts only what the schema walk accepts.
func FuzzPlainKeyValue(f *testing.F) {
	for _, seed := range [][]byte{
		{0x0a, 0x01, 'k', 0x12, 0x03, 0x0a, 0x01, 'v'},
		{0x0a, 0x01, 'k', 0x12, 0x02, 0x18, 0x96},
		{0x0a, 0x01, 'k', 0x12, 0x09, 0x21, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f},
		{0x0a, 0x01, 'k', 0x12, 0x02, 0x10, 0x01, 0x12, 0x03, 0x3a, 0x01, 0xff},
		{0x0a, 0x01, 'k', 0x12, 0x04, 0x2a, 0x02, 0x0a, 0x00},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !plainKeyValue(b) {
			return
		}
		if _, e := walkMsg(mKeyValue, b, 3); e != nil {
			t.Fatalf("fast path accepted %x, the schema walk refuses it: %v", b, e.public())
		}
	})
}
