package queue

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	tornItems = 10
	tornBody  = 300
	tornRec   = recHeaderSize + tornBody
)

// recOff is the offset of record i in a segment written by writeTornFixture.
func recOff(i int) int64 { return segHeaderSize + int64(i)*tornRec }

// writeTornFixture writes items 0..9 into one segment, closes the queue and returns the
// directory and the segment path.
func writeTornFixture(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 10
	q := openT(t, dir, cfg, Settings{})
	for i := range tornItems {
		mustPut(t, q, batch(i, tornBody))
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	seqs, err := listSegments(dir)
	if err != nil || len(seqs) != 1 {
		t.Fatalf("segments %v %v", seqs, err)
	}
	path := filepath.Join(dir, segName(seqs[0]))
	if fi, err := os.Stat(path); err != nil || fi.Size() != recOff(tornItems)+endMarkerSize {
		t.Fatalf("fixture segment: %v", err)
	}
	return dir, path
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func without(all []int, drop ...int) []int {
	return slices.DeleteFunc(slices.Clone(all), func(i int) bool { return slices.Contains(drop, i) })
}

// TestTornWrite damages a queue file the ways crashes and bad disks do, restarts, and checks
// that every record outside the damage is delivered and the damage is counted, once.
func TestTornWrite(t *testing.T) {
	all := seq(0, tornItems)
	garbage := bytes.Repeat([]byte("not a record; "), 80)
	partial := make([]byte, tornRec)
	(&recHeader{id: 99, length: tornBody}).encode(partial)
	for _, tc := range []struct {
		name        string
		damage      func(t *testing.T, path string)
		want        []int
		corruptions int64
		droppedRecs int64 // known from an intact header
		lostRecs    int64
	}{
		{"intact", func(*testing.T, string) {}, all, 0, 0, 0},
		{"truncated mid payload", func(t *testing.T, p string) { os.Truncate(p, recOff(10)-100) }, seq(0, 9), 1, 0, 0},
		{"truncated mid header", func(t *testing.T, p string) { os.Truncate(p, recOff(9)+20) }, seq(0, 9), 1, 0, 0},
		{"truncated at a record boundary", func(t *testing.T, p string) { os.Truncate(p, recOff(7)) }, seq(0, 7), 0, 0, 0},
		{"truncated into the segment header", func(t *testing.T, p string) { os.Truncate(p, 9) }, nil, 1, 0, 0},
		{"last payload flipped", func(t *testing.T, p string) { flip(t, p, recOff(9)+recHeaderSize+7) }, seq(0, 9), 1, 1, 1},
		{"last header flipped", func(t *testing.T, p string) { flip(t, p, recOff(9)+10) }, seq(0, 9), 1, 0, 0},
		{"garbage appended", func(t *testing.T, p string) { appendBytes(t, p, garbage) }, all, 1, 0, 0},
		{"zeros appended", func(t *testing.T, p string) { appendBytes(t, p, make([]byte, 4096)) }, all, 1, 0, 0},
		{"partial record appended", func(t *testing.T, p string) { appendBytes(t, p, partial[:tornRec-1]) }, all, 1, 0, 0},
		{"middle payload flipped", func(t *testing.T, p string) { flip(t, p, recOff(4)+recHeaderSize) }, without(all, 4), 1, 1, 1},
		{"middle header flipped", func(t *testing.T, p string) { flip(t, p, recOff(4)+20) }, without(all, 4), 1, 0, 1},
		{"two middle records damaged", func(t *testing.T, p string) {
			flip(t, p, recOff(2)+1)
			flip(t, p, recOff(3)+30)
		}, without(all, 2, 3), 1, 0, 2},
		{"segment header flipped", func(t *testing.T, p string) { flip(t, p, 3) }, all, 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path := writeTornFixture(t)
			tc.damage(t, path)
			var drops []Drop
			q := openT(t, dir, testConfig(), Settings{OnDrop: func(d Drop) { drops = append(drops, d) }})
			st := q.Stats()
			if st.Corruptions != tc.corruptions || (tc.corruptions > 0) != (st.CorruptBytes > 0) {
				t.Errorf("corruptions %d (%d bytes), want %d", st.Corruptions, st.CorruptBytes, tc.corruptions)
			}
			if st.CorruptRecords != tc.lostRecs {
				t.Errorf("corrupt records %d, want %d", st.CorruptRecords, tc.lostRecs)
			}
			if c := st.Dropped[DropCorrupt]; c.Records != tc.droppedRecs || int64(len(drops)) != tc.droppedRecs {
				t.Errorf("dropped as corrupt: stats %+v, callbacks %d, want %d", c, len(drops), tc.droppedRecs)
			}
			if got := drainIDs(t, q); !slices.Equal(got, tc.want) {
				t.Fatalf("delivered %v, want %v", got, tc.want)
			}
			mustPut(t, q, batch(100, 10)) // the queue stays writable
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}

			// The damage was dealt with: a second restart finds none and loses nothing.
			q = openT(t, dir, testConfig(), Settings{})
			defer q.Close()
			if st := q.Stats(); st.Corruptions != 0 {
				t.Errorf("second restart found %d corruptions again", st.Corruptions)
			}
			if got := drainIDs(t, q); !slices.Equal(got, []int{100}) {
				t.Fatalf("after the second restart: %v", got)
			}
		})
	}
}

// TestDamageInOlderSegment damages a segment that is not the last: its payloads are checked
// when delivered rather than at open.
func TestDamageInOlderSegment(t *testing.T) {
	for _, tc := range []struct {
		name        string
		off         int64
		wantDropped int64 // dropped when read
		wantLost    int64 // found at open
	}{
		{"payload", recOff(1) + recHeaderSize + 3, 1, 0},
		{"header", recOff(1) + 9, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 4096 // 11 records of 340 bytes per segment
			q := openT(t, dir, cfg, Settings{})
			for i := range 30 {
				mustPut(t, q, batch(i, tornBody))
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			seqs, _ := listSegments(dir)
			if len(seqs) != 3 {
				t.Fatalf("segments %v", seqs)
			}
			flip(t, filepath.Join(dir, segName(seqs[0])), tc.off)
			var drops []Drop
			q = openT(t, dir, cfg, Settings{OnDrop: func(d Drop) { drops = append(drops, d) }})
			defer q.Close()
			if got := drainIDs(t, q); !slices.Equal(got, without(seq(0, 30), 1)) {
				t.Fatalf("delivered %v", got)
			}
			st := q.Stats()
			if c := st.Dropped[DropCorrupt]; c.Records != tc.wantDropped || int64(len(drops)) != tc.wantDropped {
				t.Errorf("dropped %+v (callbacks %d), want %d", c, len(drops), tc.wantDropped)
			}
			if tc.wantDropped > 0 && (drops[0].Items != 2 || drops[0].Reason != DropCorrupt) {
				t.Errorf("drop %+v, want the 2 items of record 1", drops[0])
			}
			if st.Corruptions != 1 || st.CorruptRecords != 1 {
				t.Errorf("corruptions %d, corrupt records %d, want 1 and 1", st.Corruptions, st.CorruptRecords)
			}
		})
	}
}

func TestDamagedAckLog(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	q := openT(t, dir, cfg, Settings{})
	for i := range 6 {
		mustPut(t, q, batch(i, 10))
	}
	for range 3 {
		if err := mustGet(t, q).Ack(); err != nil {
			t.Fatal(err)
		}
	}
	mustGet(t, q) // item 3 stays in flight
	if err := mustGet(t, q).Ack(); err != nil {
		t.Fatal(err)
	}
	crashed := snapshotDir(t, dir) // ack log: checkpoint from Open, then 4 appended entries
	q.Close()

	// A torn last entry costs at most that ack: the record comes again.
	path := filepath.Join(crashed, ackFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	q = openT(t, crashed, cfg, Settings{})
	if got := drainIDs(t, q); !slices.Equal(got, []int{3, 4, 5}) {
		t.Fatalf("after a torn ack log: %v", got)
	}
	q.Close()

	// An unreadable ack log means everything left in segments is delivered again.
	dir2 := t.TempDir()
	q = openT(t, dir2, cfg, Settings{})
	for i := range 3 {
		mustPut(t, q, batch(i, 10))
	}
	if err := mustGet(t, q).Ack(); err != nil {
		t.Fatal(err)
	}
	crashed = snapshotDir(t, dir2)
	q.Close()
	if err := os.WriteFile(filepath.Join(crashed, ackFile), []byte("garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	q = openT(t, crashed, cfg, Settings{})
	defer q.Close()
	if got := drainIDs(t, q); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("after a garbage ack log: %v", got)
	}
}

// threeSegments writes items 0..29 into three segments of 11, 11 and 8 records, acks the first
// acked of them, closes the queue and returns the directory and the segment paths.
func threeSegments(t *testing.T, cfg Config, acked int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	q := openT(t, dir, cfg, Settings{})
	for i := range 30 {
		mustPut(t, q, batch(i, tornBody))
	}
	for range acked {
		if err := mustGet(t, q).Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	seqs, _ := listSegments(dir)
	if len(seqs) != 3 {
		t.Fatalf("segments %v", seqs)
	}
	var paths []string
	for _, s := range seqs {
		paths = append(paths, filepath.Join(dir, segName(s)))
	}
	return dir, paths
}

// A segment whose header names a format version this one cannot read (here one byte of the
// version field damaged, which the header checksum does not cover) is moved aside and counted;
// the queue starts and delivers everything else.
func TestUnknownSegmentVersionQuarantined(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4096
	dir, paths := threeSegments(t, cfg, 0)
	flip(t, paths[1], 8) // the version field
	var log bytes.Buffer
	q := openT(t, dir, cfg, Settings{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if got := drainIDs(t, q); !slices.Equal(got, append(seq(0, 11), seq(22, 30)...)) {
		t.Fatalf("delivered %v", got)
	}
	st := q.Stats()
	if st.Corruptions != 1 || st.CorruptRecords != 11 {
		t.Errorf("corruptions %d, corrupt records %d, want 1 and 11", st.Corruptions, st.CorruptRecords)
	}
	if !strings.Contains(log.String(), "unknown format version") || !strings.Contains(log.String(), "records_lost=11") {
		t.Errorf("log:\n%s", log.String())
	}
	if _, err := os.Stat(paths[1] + quarantineSuffix); err != nil {
		t.Errorf("the segment was not kept aside: %v", err)
	}
	// New data is taken and survives a restart.
	mustPut(t, q, batch(30, tornBody))
	q.Close()
	q = openT(t, dir, cfg, Settings{})
	defer q.Close()
	if got := drainIDs(t, q); !slices.Equal(got, []int{30}) {
		t.Fatalf("after a restart: %v", got)
	}
}

// An older segment cut short loses the records past the cut; the next segment's first id says
// how many, and the ones not acknowledged are counted, whether the cut falls in a record or
// between two.
func TestTruncatedOlderSegmentCounted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cut      int64
		acked    int
		wantLost int64
	}{
		{"in a record", recOff(5) + 100, 0, 6},
		{"at a record boundary", recOff(5), 0, 6},
		{"acknowledged records not counted", recOff(5) + 100, 7, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes = 4096
			dir, paths := threeSegments(t, cfg, tc.acked)
			if err := os.Truncate(paths[0], tc.cut); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			q := openT(t, dir, cfg, Settings{Logger: slog.New(slog.NewTextHandler(&log, nil))})
			defer q.Close()
			want := append(seq(min(tc.acked, 5), 5), seq(11, 30)...)
			if got := drainIDs(t, q); !slices.Equal(got, want) {
				t.Fatalf("delivered %v, want %v", got, want)
			}
			if st := q.Stats(); st.CorruptRecords != tc.wantLost || st.Corruptions != 1 {
				t.Errorf("corruptions %d, corrupt records %d, want 1 and %d\n%s", st.Corruptions, st.CorruptRecords, tc.wantLost, log.String())
			}
			if !strings.Contains(log.String(), fmt.Sprintf("records_lost=%d", tc.wantLost)) {
				t.Errorf("log:\n%s", log.String())
			}
		})
	}
}

// An ack log of an unknown format version is moved aside: the queue starts and delivers every
// record again (at least once) rather than refusing to start.
func TestUnknownAckLogVersionQuarantined(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	q := openT(t, dir, cfg, Settings{})
	for i := range 3 {
		mustPut(t, q, batch(i, 10))
	}
	if err := mustGet(t, q).Ack(); err != nil {
		t.Fatal(err)
	}
	q.Close()
	flip(t, filepath.Join(dir, ackFile), 8)
	q = openT(t, dir, cfg, Settings{})
	defer q.Close()
	if got := drainIDs(t, q); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("delivered %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ackFile+quarantineSuffix)); err != nil {
		t.Errorf("the ack log was not kept aside: %v", err)
	}
}
