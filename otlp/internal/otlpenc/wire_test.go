package otlpenc

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestNestedLengths checks messages whose length needs fewer, as many or more bytes than
// appendOpen and appendOpenN reserve against protowire.
func TestNestedLengths(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 200, 16383, 16384, 20000, 2097151, 2097152} {
		body := bytes.Repeat([]byte{'x'}, n)
		want := protowire.AppendBytes(protowire.AppendTag([]byte{7}, 5, protowire.BytesType), body)
		b, s := appendOpen([]byte{7}, 5)
		if got := appendClose(append(b, body...), s); !bytes.Equal(got, want) {
			t.Errorf("one byte reserved, length %d: encoding differs", n)
		}
		for reserved := 2; reserved <= 3; reserved++ {
			b, s = appendOpenN([]byte{7}, 5, reserved)
			if got := closeReserved(append(b, body...), s, reserved); !bytes.Equal(got, want) {
				t.Errorf("%d bytes reserved, length %d: encoding differs", reserved, n)
			}
		}
	}
	for _, v := range []uint64{0, 1, 127, 128, 1<<14 - 1, 1 << 14, 1<<63 - 1, 1 << 63, ^uint64(0)} {
		if got, want := varintLen(v), protowire.SizeVarint(v); got != want {
			t.Errorf("varintLen(%d) = %d, want %d", v, got, want)
		}
		if got, want := appendVarint(nil, v), protowire.AppendVarint(nil, v); !bytes.Equal(got, want) {
			t.Errorf("appendVarint(%d) = %x, want %x", v, got, want)
		}
	}
}
