//go:build linux

package sender_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// A disk queue whose file system fills while the upstream is down says so in Status (which
// /ready reads), and once the upstream has drained it accepts again without a restart.
func TestDiskQueueFileSystemFull(t *testing.T) {
	dir := testutil.OnTmpfs(t, "1m")
	if dir == "" {
		return
	}
	var up atomic.Bool
	var delivered atomic.Int64
	next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error {
		if !up.Load() {
			return errUnavailable
		}
		delivered.Add(1)
		return nil
	}}
	cfg := sender.Config{Queue: diskQueue(dir), Retry: fastRetry()}
	cfg.Queue.Disk.MaxDiskBytes, cfg.Queue.Disk.SegmentBytes = 64<<20, 16<<20
	cfg.Queue.BlockTimeout = 0
	s, _ := newSender(t, next, cfg)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	body := pipeline.Batch{Signal: pipeline.SignalTraces, Body: make([]byte, 10<<10), Items: 1}
	accepted := 0
	var err error
	for range 1000 {
		if err = s.Consume(t.Context(), body); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("after %d batches: %v, want the file system full", accepted, err)
	}
	st := s.Status()
	if !strings.Contains(st.WriteError, "no space left on device") || st.WriteFailingSince.IsZero() {
		t.Fatalf("Status on a full file system: %+v", st)
	}
	up.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for delivered.Load() < int64(accepted) {
		select {
		case <-ctx.Done():
			t.Fatalf("delivered %d of %d after the upstream came back", delivered.Load(), accepted)
		case <-tick.C:
		}
	}
	for i := range accepted / 2 {
		if err := s.Consume(t.Context(), body); err != nil {
			t.Fatalf("batch %d after the queue drained: %v", i, err)
		}
	}
	if st := s.Status(); st.WriteError != "" {
		t.Fatalf("WriteError after writes succeeded: %q", st.WriteError)
	}
}
