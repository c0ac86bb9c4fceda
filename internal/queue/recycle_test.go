package queue

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// activeHeader reads the header of the newest segment file in dir.
func activeHeader(t *testing.T, dir string) segHeader {
	t.Helper()
	seqs, err := listSegments(dir)
	if err != nil || len(seqs) == 0 {
		t.Fatalf("segments %v %v", seqs, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, segName(seqs[len(seqs)-1])))
	if err != nil {
		t.Fatal(err)
	}
	h, ok, err := decodeSegHeader(b)
	if !ok || err != nil {
		t.Fatalf("active segment header damaged: %v", err)
	}
	return h
}

func countFiles(t *testing.T, dir, suffix string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			n++
		}
	}
	return n
}

// TestRecycling runs a consumer that keeps up: two segment files take turns, and the old
// records left in a recycled file are never taken for new ones, after a clean restart or a
// crash.
func TestRecycling(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig() // 4 KiB segments
	q := openT(t, dir, cfg, Settings{})
	defer q.Close()
	for i := range 100 {
		mustPut(t, q, batch(i, 300))
		d := mustGet(t, q)
		if !slices.Equal([]byte(d.Body), payload(i, 300)) {
			t.Fatalf("item %d differs", i)
		}
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
		if n := countFiles(t, dir, segSuffix) + countFiles(t, dir, spareSuffix); n > 2 {
			t.Fatalf("item %d: %d segment files, want at most 2", i, n)
		}
	}
	if h := activeHeader(t, dir); h.flags&segRecycled == 0 {
		t.Fatal("the active segment is not a recycled file")
	}
	if got := queueFileBytes(t, dir); got != q.Stats().DiskBytes {
		t.Fatalf("files take %d bytes, stats say %d", got, q.Stats().DiskBytes)
	}

	// Leave a few records unacked in the recycled segment, then crash.
	for i := 100; i < 105; i++ {
		mustPut(t, q, batch(i, 300))
	}
	if err := mustGet(t, q).Ack(); err != nil { // 100
		t.Fatal(err)
	}
	mustGet(t, q) // 101 stays in flight
	crashed := snapshotDir(t, dir)

	q2 := openT(t, crashed, cfg, Settings{})
	if st := q2.Stats(); st.Corruptions != 0 {
		t.Fatalf("a recycled file's old records reported as damage: %+v", st)
	}
	if n := countFiles(t, crashed, spareSuffix); n != 0 {
		t.Fatalf("%d spare files left after Open", n)
	}
	if got := drainIDs(t, q2); !slices.Equal(got, seq(101, 105)) {
		t.Fatalf("after a crash: %v", got)
	}
	q2.Close()

	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openT(t, dir, cfg, Settings{})
	defer q.Close()
	if st := q.Stats(); st.Corruptions != 0 {
		t.Fatalf("after a clean restart: %+v", st)
	}
	if got := drainIDs(t, q); !slices.Equal(got, seq(101, 105)) {
		t.Fatalf("after a clean restart: %v", got)
	}
}

// TestRecycledSegmentDamage damages a recycled segment: the end marker, and a record.
func TestRecycledSegmentDamage(t *testing.T) {
	setup := func(t *testing.T) (string, string) {
		dir := t.TempDir()
		q := openT(t, dir, testConfig(), Settings{})
		for i := range 30 { // 11 records of 340 bytes a segment: the third file is recycled
			mustPut(t, q, batch(i, tornBody))
			if err := mustGet(t, q).Ack(); err != nil {
				t.Fatal(err)
			}
		}
		for i := 30; i < 33; i++ {
			mustPut(t, q, batch(i, tornBody))
		}
		if h := activeHeader(t, dir); h.flags&segRecycled == 0 {
			t.Fatal("the active segment is not recycled")
		}
		seqs, _ := listSegments(dir)
		path := filepath.Join(dir, segName(seqs[len(seqs)-1]))
		crashed := snapshotDir(t, dir)
		q.Close()
		return crashed, filepath.Join(crashed, filepath.Base(path))
	}
	// The active segment holds items 22..32 at slots 0..10 (22..29 acked); old records follow.
	for _, tc := range []struct {
		name        string
		damage      func(t *testing.T, path string)
		want        []int
		corruptions int64
	}{
		{"intact", func(*testing.T, string) {}, seq(30, 33), 0},
		{"end marker damaged", func(t *testing.T, p string) { flip(t, p, recOff(11)+5) }, seq(30, 33), 1},
		{"last record damaged", func(t *testing.T, p string) { flip(t, p, recOff(10)+recHeaderSize+1) }, seq(30, 32), 1},
		{"middle record damaged", func(t *testing.T, p string) { flip(t, p, recOff(9)+12) }, []int{30, 32}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path := setup(t)
			tc.damage(t, path)
			q := openT(t, dir, testConfig(), Settings{})
			defer q.Close()
			if st := q.Stats(); st.Corruptions != tc.corruptions {
				t.Errorf("corruptions %d, want %d", st.Corruptions, tc.corruptions)
			}
			if got := drainIDs(t, q); !slices.Equal(got, tc.want) {
				t.Fatalf("delivered %v, want %v", got, tc.want)
			}
		})
	}
}
