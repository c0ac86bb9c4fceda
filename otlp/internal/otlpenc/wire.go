// Package otlpenc encodes OpenTelemetry SDK data straight to OTLP Export*ServiceRequest
// protobuf bytes, without building the generated protobuf structs first: the SDK's hot path
// then allocates only the output buffer.
//
// Every function appends to a byte slice it takes and returns (b = appendX(b, ...)), so that
// the slice lives in registers: no store of a slice header to memory per field, hence no
// write barrier while the garbage collector runs (it often does next to an application making
// spans). Messages whose size is known up front (attributes of scalar values) get their length
// written first; the others reserve room for the length and fix it when they end.
package otlpenc

import (
	"encoding/binary"
	"math/bits"
)

// Wire types.
const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireI32    = 5
)

// appendVarint appends v in base-128; the one-byte case inlines.
func appendVarint(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	return binary.AppendUvarint(b, v)
}

// varintLen is the encoded length of v.
func varintLen(v uint64) int { return (bits.Len64(v|1)*9 + 64) / 64 }

func appendTag(b []byte, field, wt int) []byte {
	return appendVarint(b, uint64(field)<<3|uint64(wt))
}

// tagLen is the encoded length of a tag.
func tagLen(field int) int { return varintLen(uint64(field) << 3) }

func appendUvarintField(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendVarint(appendTag(b, field, wireVarint), v)
}

func appendFixed64Field(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint64(appendTag(b, field, wireI64), v)
}

func appendFixed32Field(b []byte, field int, v uint32) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint32(appendTag(b, field, wireI32), v)
}

// appendStringField writes a non-empty string (proto3 omits empty ones).
func appendStringField(b []byte, field int, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(b, field, s)
}

// appendString writes s even when empty (a oneof member).
func appendString(b []byte, field int, s string) []byte {
	b = appendTag(b, field, wireLen)
	b = appendVarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytesField(b []byte, field int, p []byte) []byte {
	if len(p) == 0 {
		return b
	}
	b = appendTag(b, field, wireLen)
	b = appendVarint(b, uint64(len(p)))
	return append(b, p...)
}

// stringFieldLen is what appendStringField writes for s.
func stringFieldLen(field int, s string) int {
	if s == "" {
		return 0
	}
	return tagLen(field) + varintLen(uint64(len(s))) + len(s)
}

// appendOpen starts a nested message of unknown size with room for a length of one byte and
// returns the offset appendClose needs.
func appendOpen(b []byte, field int) ([]byte, int) { return appendOpenN(b, field, 1) }

// appendClose ends the message appendOpen started.
func appendClose(b []byte, start int) []byte { return closeReserved(b, start, 1) }

// appendOpenN starts a nested message with room for a length of reserved bytes (2: up to
// 16 KiB, a span; 3: up to 2 MiB, a request) and returns the offset closeReserved needs.
func appendOpenN(b []byte, field, reserved int) ([]byte, int) {
	b = appendTag(b, field, wireLen)
	var room [3]byte
	b = append(b, room[:reserved]...)
	return b, len(b)
}

// closeReserved writes the length of the message that starts at start in the reserved bytes
// before it, moving the body when its length needs a different number of bytes.
func closeReserved(b []byte, start, reserved int) []byte {
	n := len(b) - start
	l := varintLen(uint64(n))
	at := start - reserved
	switch {
	case l == reserved:
	case l < reserved:
		copy(b[at+l:], b[start:])
		b = b[:len(b)-(reserved-l)]
	default:
		var room [binary.MaxVarintLen64]byte
		b = append(b, room[:l-reserved]...)
		copy(b[at+l:], b[start:start+n])
	}
	for ; l > 1; l-- {
		b[at] = byte(n) | 0x80
		n >>= 7
		at++
	}
	b[at] = byte(n)
	return b
}
