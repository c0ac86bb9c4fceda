// Package otlpenc encodes OpenTelemetry SDK data straight to OTLP Export*ServiceRequest
// protobuf bytes, without building the generated protobuf structs first: the SDK's hot path
// then allocates only the output buffer.
package otlpenc

import (
	"encoding/binary"
	"math"
)

// Wire types.
const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireI32    = 5
)

// buf appends protobuf wire data. Nested messages are written in place: open reserves one
// length byte, close writes the real length and shifts the body when it needs more bytes.
type buf struct{ b []byte }

func (w *buf) tag(field, wt int) { w.varint(uint64(field)<<3 | uint64(wt)) }

func (w *buf) varint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

func (w *buf) uvarintField(field int, v uint64) {
	if v == 0 {
		return
	}
	w.tag(field, wireVarint)
	w.varint(v)
}

func (w *buf) fixed64Field(field int, v uint64) {
	if v == 0 {
		return
	}
	w.tag(field, wireI64)
	w.b = binary.LittleEndian.AppendUint64(w.b, v)
}

func (w *buf) fixed32Field(field int, v uint32) {
	if v == 0 {
		return
	}
	w.tag(field, wireI32)
	w.b = binary.LittleEndian.AppendUint32(w.b, v)
}

// stringField writes a non-empty string (proto3 omits empty ones).
func (w *buf) stringField(field int, s string) {
	if s == "" {
		return
	}
	w.tag(field, wireLen)
	w.varint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *buf) bytesField(field int, p []byte) {
	if len(p) == 0 {
		return
	}
	w.tag(field, wireLen)
	w.varint(uint64(len(p)))
	w.b = append(w.b, p...)
}

// open starts a nested message and returns the offset close needs.
func (w *buf) open(field int) int {
	w.tag(field, wireLen)
	w.b = append(w.b, 0)
	return len(w.b)
}

// close ends the message open started.
func (w *buf) close(start int) {
	n := len(w.b) - start
	if n < 0x80 {
		w.b[start-1] = byte(n)
		return
	}
	var lenBuf [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(lenBuf[:], uint64(n))
	w.b = append(w.b, lenBuf[:l-1]...) // room for the longer length
	copy(w.b[start-1+l:], w.b[start:start+n])
	copy(w.b[start-1:], lenBuf[:l])
}

func float64Bits(f float64) uint64 { return math.Float64bits(f) }
