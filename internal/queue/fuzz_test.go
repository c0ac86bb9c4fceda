package queue

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds arbitrary bytes as a segment file and as an ack log: Open must not panic or
// fail (a file of an unknown format version is moved aside), every record it delivers must be intact, and once
// they are all acked a restart must find nothing left.
func FuzzOpen(f *testing.F) {
	seg, acks := fuzzSeeds(f)
	f.Add(fuzzRecycledSeed(f), []byte{})
	f.Add(seg, acks)
	f.Add(seg[:len(seg)-5], acks)
	f.Add(seg, acks[:len(acks)-3])
	f.Add(seg[:segHeaderSize+recHeaderSize+3], []byte{})
	f.Add(append(seg[:segHeaderSize:segHeaderSize], seg[segHeaderSize+1:]...), []byte(ackMagic))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, seg, acks []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), seg, 0o640); err != nil {
			t.Fatal(err)
		}
		if len(acks) > 0 {
			if err := os.WriteFile(filepath.Join(dir, ackFile), acks, 0o640); err != nil {
				t.Fatal(err)
			}
		}
		cfg := testConfig()
		set := Settings{Logger: slog.New(slog.DiscardHandler)}
		q, err := Open(dir, cfg, set)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		want := q.Stats().Records
		got := 0
		for {
			d, ok := poll(q)
			if !ok {
				break
			}
			got++
			if err := d.Ack(); err != nil {
				t.Fatal(err)
			}
		}
		// Records found damaged when read are dropped, never delivered.
		if st := q.Stats(); st.Records != 0 || got+int(st.Dropped[DropCorrupt].Records) < want {
			t.Fatalf("delivered %d of %d records, stats %+v", got, want, st)
		}
		mustPut(t, q, batch(1, 10))
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		q, err = Open(dir, cfg, set)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer q.Close()
		if st := q.Stats(); st.Records != 1 || st.Corruptions != 0 {
			t.Fatalf("second Open: %+v", st)
		}
	})
}

// fuzzSeeds returns a real segment of three records and the ack log acknowledging one.
func fuzzSeeds(f *testing.F) (seg, acks []byte) {
	dir := f.TempDir()
	q, err := Open(dir, testConfig(), Settings{})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		mustPut(f, q, batch(i, 20*i))
	}
	if err := mustGet(f, q).Ack(); err != nil {
		f.Fatal(err)
	}
	seqs, _ := listSegments(dir)
	if seg, err = os.ReadFile(filepath.Join(dir, segName(seqs[len(seqs)-1]))); err != nil {
		f.Fatal(err)
	}
	if acks, err = os.ReadFile(filepath.Join(dir, ackFile)); err != nil {
		f.Fatal(err)
	}
	if err := q.Close(); err != nil {
		f.Fatal(err)
	}
	return seg, acks
}

// fuzzRecycledSeed returns a recycled segment: three records, then an older segment's.
func fuzzRecycledSeed(f *testing.F) []byte {
	dir := f.TempDir()
	q, err := Open(dir, testConfig(), Settings{})
	if err != nil {
		f.Fatal(err)
	}
	defer q.Close()
	for i := range 30 {
		mustPut(f, q, batch(i, 300))
		if i < 27 {
			if err := mustGet(f, q).Ack(); err != nil {
				f.Fatal(err)
			}
		}
	}
	seqs, _ := listSegments(dir)
	seg, err := os.ReadFile(filepath.Join(dir, segName(seqs[len(seqs)-1])))
	if err != nil {
		f.Fatal(err)
	}
	if h, ok, _ := decodeSegHeader(seg); !ok || h.flags&segRecycled == 0 {
		f.Fatal("seed segment not recycled")
	}
	return seg
}
