package queue

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestRecordHeaderRoundTrip(t *testing.T) {
	h := recHeader{id: 42, enqNano: -5, length: 7, crc: 0xdeadbeef, items: 9, signal: 3}
	b := make([]byte, recHeaderSize)
	h.encode(b)
	got, err := decodeHeader(b)
	if err != nil || got != h {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 1
		if _, err := decodeHeader(c); err == nil {
			t.Errorf("flipping byte %d went unnoticed", i)
		}
	}
	for _, bad := range []recHeader{{id: 0}, {id: maxID}, {id: 1, length: maxPayload + 1}} {
		bad.encode(b)
		if _, err := decodeHeader(b); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestAckEntryRoundTrip(t *testing.T) {
	b := make([]byte, ackEntrySize)
	encodeAck(b, ackTypeSettled, 1234)
	if typ, id, ok := decodeAck(b); !ok || typ != ackTypeSettled || id != 1234 {
		t.Fatalf("decode = %d %d %v", typ, id, ok)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 1
		if _, _, ok := decodeAck(c); ok {
			t.Errorf("flipping byte %d went unnoticed", i)
		}
	}
}

// TestGoldenFiles pins the on-disk format described in docs/queue-format.md: a change here
// is a format change, which needs a new version number and a reader for the old one.
func TestGoldenFiles(t *testing.T) {
	dir := t.TempDir()
	clock := time.Unix(1_700_000_000, 123456789)
	q := openT(t, dir, testConfig(), Settings{Now: func() time.Time { return clock }})
	mustPut(t, q, pipeline.Batch{Signal: pipeline.SignalTraces, Body: []byte("first"), Items: 1})
	mustPut(t, q, pipeline.Batch{Signal: pipeline.SignalLogs, Body: []byte("second!"), Items: 2})
	mustPut(t, q, pipeline.Batch{Signal: pipeline.SignalMetrics, Body: []byte{}, Items: 0})
	mustGet(t, q) // id 1 stays in flight
	if err := mustGet(t, q).Ack(); err != nil {
		t.Fatal(err)
	}
	seg, err := os.ReadFile(filepath.Join(dir, segName(1)))
	if err != nil {
		t.Fatal(err)
	}
	acks, err := os.ReadFile(filepath.Join(dir, ackFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	checkpoint, err := os.ReadFile(filepath.Join(dir, ackFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"golden.seg": seg, "golden.acks": acks, "golden-checkpoint.acks": checkpoint} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the golden file:\ngot  %x\nwant %x", name, got, want)
		}
	}
}

func TestBufPoolClasses(t *testing.T) {
	prev := -1
	for _, n := range []int{1, 512, 513, 640, 641, 1023, 1024, 1025, 100 << 10, 1<<20 + 1, maxPayload + recHeaderSize} {
		c, size := classOf(n)
		if size < n || size > n+n/4+512 || c < prev || c >= numClasses {
			t.Errorf("classOf(%d) = %d, %d", n, c, size)
		}
		if c2, s2 := classOf(size); c2 != c || s2 != size {
			t.Errorf("classOf(%d) = %d, %d: not stable for its own size", size, c2, s2)
		}
		prev = c
	}
	var p bufPool
	rb := p.get(1000)
	if len(rb.b) != 1000 || cap(rb.b) != 1024 {
		t.Fatalf("get(1000): len %d cap %d", len(rb.b), cap(rb.b))
	}
	p.put(rb)
	p.put(&recBuf{b: make([]byte, 1000)}) // foreign capacity: ignored
}
