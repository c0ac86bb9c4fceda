//go:build linux

package queue

import (
	"context"
	"errors"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

// TestDiskFull fills a real 1 MiB file system (a tmpfs in a mount namespace of its own) under a
// queue bounded at 64 MiB, drains it, and fills it again: the space of settled records must be
// reused without a restart, every accepted item delivered, and the failure visible in Stats.
func TestDiskFull(t *testing.T) {
	dir := testutil.OnTmpfs(t, "1m")
	if dir == "" {
		return
	}
	for _, tc := range []struct {
		name    string
		segment int64
	}{
		{"one segment", 16 << 20}, // the active segment never fills: only resetting it frees space
		{"rotating", 128 << 10},   // sealed segments and a spare file hold space too
	} {
		t.Run(tc.name, func(t *testing.T) {
			qdir, err := os.MkdirTemp(dir, "q")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(qdir)
			cfg := testConfig()
			cfg.MaxDiskBytes, cfg.SegmentBytes = 64<<20, tc.segment
			q := openT(t, qdir, cfg, Settings{})
			next := 0
			for round := range 3 {
				first := next
				for ; ; next++ {
					err := q.Put(context.Background(), batch(next, 10<<10))
					if err == nil {
						continue
					}
					if _, ok := resilience.RetryAfter(err); !ok || !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("round %d: Put on a full file system: %v, want a retryable ENOSPC", round, err)
					}
					break
				}
				accepted := next - first
				t.Logf("round %d: %d items of 10 KiB accepted before the file system was full", round, accepted)
				if accepted < 40 {
					t.Fatalf("round %d: only %d items fit in 1 MiB: the space of settled records was not reused", round, accepted)
				}
				if st := q.Stats(); st.WriteError == nil || st.WriteFailingSince.IsZero() {
					t.Fatalf("round %d: Stats after a failed write: %+v", round, st)
				}
				if round == 2 {
					break // leave the last round queued across a restart
				}
				if got := drainIDs(t, q); !slices.Equal(got, seq(first, next)) {
					t.Fatalf("round %d: delivered %d items, want %d..%d", round, len(got), first, next-1)
				}
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			q = openT(t, qdir, cfg, Settings{})
			defer q.Close()
			last := next - q.Stats().Records
			if got := drainIDs(t, q); len(got) == 0 || !slices.Equal(got, seq(last, next)) {
				t.Fatalf("after restart: %d items delivered, want the last round's", len(got))
			}
			mustPut(t, q, batch(next, 10<<10))
			if st := q.Stats(); st.WriteError != nil {
				t.Fatalf("WriteError after a successful write: %v", st.WriteError)
			}
		})
	}
}
