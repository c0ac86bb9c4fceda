package queue

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Every file of a running queue deleted (rm -rf of its directory): the queue writes them back
// from its open files, so a restart still delivers everything not acknowledged, and the
// directory is locked again.
func TestDeletedFilesRestored(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	cfg := testConfig() // 4 KiB segments: several files
	var log bytes.Buffer
	q := openT(t, dir, cfg, Settings{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	defer q.Close()
	for i := range 30 {
		mustPut(t, q, batch(i, tornBody))
	}
	for range 5 {
		if err := mustGet(t, q).Ack(); err != nil {
			t.Fatal(err)
		}
	}
	mustGet(t, q) // item 5 stays in flight: delivered again after the restart
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	restored, err := q.restoreFiles()
	if err != nil || !restored {
		t.Fatalf("restoreFiles: %v, %v", restored, err)
	}
	if !strings.Contains(log.String(), "files deleted while in use") {
		t.Errorf("no warning:\n%s", log.String())
	}
	if again, err := q.restoreFiles(); again || err != nil {
		t.Fatalf("a second check restored again: %v, %v", again, err)
	}
	if _, err := Open(dir, cfg, Settings{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second queue on the restored directory: %v, want ErrLocked", err)
	}
	for i := 30; i < 35; i++ {
		mustPut(t, q, batch(i, tornBody))
	}
	if err := mustGet(t, q).Ack(); err != nil { // item 6
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openT(t, dir, cfg, Settings{})
	defer q.Close()
	want := append([]int{5}, seq(7, 35)...)
	if got := drainIDs(t, q); !slices.Equal(got, want) {
		t.Fatalf("after a restart: %v, want %v", got, want)
	}
	if st := q.Stats(); st.Corruptions != 0 {
		t.Errorf("damage after the restore: %+v", st)
	}
}

// The check runs by itself every fileCheckInterval.
func TestDeletedFilesCheckedPeriodically(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "q")
		q := openT(t, dir, testConfig(), Settings{})
		defer q.Close()
		mustPut(t, q, batch(0, tornBody))
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		time.Sleep(fileCheckInterval + time.Second)
		synctest.Wait()
		seqs, err := listSegments(dir)
		if err != nil || len(seqs) != 1 {
			t.Fatalf("segments after the check: %v, %v", seqs, err)
		}
		if _, err := os.Stat(filepath.Join(dir, ackFile)); err != nil {
			t.Fatalf("ack log after the check: %v", err)
		}
	})
}
