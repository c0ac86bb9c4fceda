package otlpwire

import (
	"math/bits"
	"strconv"
)

// Protobuf wire types.
const (
	wtVarint     = 0
	wtI64        = 1
	wtLen        = 2
	wtStartGroup = 3
	wtEndGroup   = 4
	wtI32        = 5
)

const maxFieldNumber = 1<<29 - 1

// readVarint decodes a varint at b[pos:]. Like the protobuf reference decoder it rejects
// varints longer than 10 bytes or overflowing 64 bits. The one-byte case is inlined.
func readVarint(b []byte, pos int) (uint64, int, *wireErr) {
	if pos < len(b) && b[pos] < 0x80 {
		return uint64(b[pos]), pos + 1, nil
	}
	return readVarintSlow(b, pos)
}

//go:noinline
func readVarintSlow(b []byte, pos int) (uint64, int, *wireErr) {
	var v uint64
	for i := 0; i < 10; i++ {
		if pos >= len(b) {
			return 0, 0, problemf("truncated varint")
		}
		c := b[pos]
		pos++
		if i == 9 && c > 1 {
			break
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, pos, nil
		}
	}
	return 0, 0, problemf("varint overflows 64 bits")
}

// readTag decodes a field tag. Groups are refused later: proto3 OTLP never uses them, and
// decoders disagree on how to skip them. The one-byte case is inlined.
func readTag(b []byte, pos int) (num int, wt int, next int, e *wireErr) {
	if pos < len(b) && b[pos] < 0x80 && b[pos] >= 8 {
		return int(b[pos] >> 3), int(b[pos] & 7), pos + 1, nil
	}
	return readTagSlow(b, pos)
}

//go:noinline
func readTagSlow(b []byte, pos int) (num int, wt int, next int, e *wireErr) {
	v, next, e := readVarint(b, pos)
	if e != nil {
		return 0, 0, 0, e
	}
	if n := v >> 3; n == 0 || n > maxFieldNumber {
		return 0, 0, 0, badFieldNumber(n)
	}
	return int(v >> 3), int(v & 7), next, nil
}

func badFieldNumber(n uint64) *wireErr {
	return problemf("invalid field number " + strconv.FormatUint(n, 10))
}

// readLen decodes a length prefix at b[pos:] and returns the bounds of the value. The one-byte
// case is inlined.
func readLen(b []byte, pos int) (start, end int, e *wireErr) {
	if pos < len(b) && b[pos] < 0x80 && int(b[pos]) < len(b)-pos {
		return pos + 1, pos + 1 + int(b[pos]), nil
	}
	return readLenSlow(b, pos)
}

//go:noinline
func readLenSlow(b []byte, pos int) (start, end int, e *wireErr) {
	v, pos, e := readVarint(b, pos)
	if e != nil {
		return 0, 0, e
	}
	if v > uint64(len(b)-pos) {
		return 0, 0, lengthExceeds(v, len(b)-pos)
	}
	return pos, pos + int(v), nil
}

func lengthExceeds(v uint64, rest int) *wireErr {
	return problemf("length " + strconv.FormatUint(v, 10) + " exceeds the " + strconv.Itoa(rest) + " bytes left")
}

// skipValue skips a value of wire type wt at b[pos:]. Used for unknown fields.
func skipValue(b []byte, pos, num, wt int) (int, *wireErr) {
	switch wt {
	case wtVarint:
		_, next, e := readVarint(b, pos)
		return next, e
	case wtI64:
		return skipFixed(b, pos, 8)
	case wtI32:
		return skipFixed(b, pos, 4)
	case wtLen:
		_, end, e := readLen(b, pos)
		return end, e
	case wtStartGroup, wtEndGroup:
		return 0, problemf("field " + strconv.Itoa(num) + ": groups are not supported")
	}
	return 0, problemf("field " + strconv.Itoa(num) + ": invalid wire type " + strconv.Itoa(wt))
}

func skipFixed(b []byte, pos, n int) (int, *wireErr) {
	if len(b)-pos < n {
		return 0, truncatedFixed(n)
	}
	return pos + n, nil
}

func truncatedFixed(n int) *wireErr { return problemf("truncated fixed" + strconv.Itoa(8*n)) }

// occurrence counts the fields numbered num in b[:end]. It gives error paths their index
// without any bookkeeping on the success path; b[:end] was already walked, so it is valid.
func occurrence(b []byte, end, num int) int {
	n := 0
	for pos := 0; pos < end; {
		f, wt, next, e := readTag(b, pos)
		if e != nil {
			break
		}
		if f == num {
			n++
		}
		if pos, e = skipValue(b, next, f, wt); e != nil {
			break
		}
	}
	return n
}

// sizeVarint is the encoded size of v.
func sizeVarint(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func wireTypeName(wt int) string {
	switch wt {
	case wtVarint:
		return "varint"
	case wtI64:
		return "fixed64"
	case wtLen:
		return "length-delimited"
	case wtI32:
		return "fixed32"
	case wtStartGroup, wtEndGroup:
		return "group"
	}
	return "invalid wire type " + strconv.Itoa(wt)
}
