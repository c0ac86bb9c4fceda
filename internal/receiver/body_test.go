package receiver

import (
	"bytes"
	"testing"
	"testing/iotest"
)

// TestReadLimitedGrowth: a body is read with few copies (the buffer doubles, to the announced
// size at most) and memory follows what really arrived, whatever Content-Length announced.
func TestReadLimitedGrowth(t *testing.T) {
	const limit = 16 << 20
	body := bytes.Repeat([]byte("otlp"), 15_000_000/4)
	var buf []byte
	allocs := testing.AllocsPerRun(3, func() {
		var err error
		buf, err = readLimited(iotest.HalfReader(bytes.NewReader(body)), nil, limit, len(body))
		if err != nil || !bytes.Equal(buf, body) {
			t.Fatalf("read %d bytes, %v", len(buf), err)
		}
	})
	if cap(buf) != len(body)+1 {
		t.Errorf("capacity %d for an announced %d-byte body, want %d", cap(buf), len(body), len(body)+1)
	}
	if allocs > 16 { // 4 KiB doubling to 15 MB, and the two readers
		t.Errorf("%v allocations to read 15 MB, want at most 16 (doubling)", allocs)
	}
	// 1 MB arrives of 16 MiB announced: at most twice what arrived is held.
	buf, err := readLimited(bytes.NewReader(body[:1<<20]), nil, limit, limit)
	if err != nil || len(buf) != 1<<20 || cap(buf) > 2<<20+1 {
		t.Errorf("1 MiB of 16 announced: len %d cap %d, %v; want cap <= 2 MiB", len(buf), cap(buf), err)
	}
	if _, err := readLimited(bytes.NewReader(body), nil, 1<<20, 0); err != errTooLarge {
		t.Errorf("past the limit: %v, want errTooLarge", err)
	}
}
