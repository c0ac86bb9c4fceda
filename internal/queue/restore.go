package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// fileCheckInterval is how often the queue checks that its files are still in its directory.
const fileCheckInterval = 5 * time.Second

// runFileCheck restores the queue's files when something deleted them while open.
func (q *Queue) runFileCheck() {
	t := time.NewTicker(fileCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
		}
		if _, err := q.restoreFiles(); err != nil && !errors.Is(err, ErrClosed) {
			q.log.Error("queue: writing back deleted files failed; what they held is lost at the next restart", "dir", q.dir, "err", err)
		}
	}
}

// restoreFiles checks that every open segment, the ack log and the lock file are still in the
// directory. A file deleted while open (a clean-up script, rm -rf of the directory) still holds
// its data through the open descriptor, but a restart would not find it: so it is written back
// under its name from that descriptor, the ack log is rewritten and the lock taken again. It
// reports whether anything was restored.
func (q *Queue) restoreFiles() (bool, error) {
	select {
	case q.wsem <- struct{}{}: // no append while segments are copied
	case <-q.closedCh:
		return false, ErrClosed
	}
	defer func() { <-q.wsem }()
	q.mu.Lock()
	segs := slices.Clone(q.segs)
	q.mu.Unlock()
	var gone []*segment
	for _, s := range segs {
		if unlinked(s.fd()) {
			gone = append(gone, s)
		}
	}
	q.ackMu.Lock()
	acksGone := q.acks != nil && unlinked(q.acks)
	q.ackMu.Unlock()
	lockGone := unlinked(q.lockF)
	if len(gone) == 0 && !acksGone && !lockGone {
		return false, nil
	}
	q.log.Warn("queue: files deleted while in use; writing them back from the open files",
		"dir", q.dir, "segments", len(gone), "ack_log", acksGone, "lock", lockGone,
		"hint", "do not delete a queue's files while it runs: stop the process first")
	if err := os.MkdirAll(q.dir, 0o750); err != nil {
		return false, fmt.Errorf("queue: %w", err)
	}
	var errs []error
	if lockGone {
		if f, err := lockDir(q.dir); err != nil {
			errs = append(errs, err)
		} else {
			old := q.lockF
			q.lockF = f
			errs = append(errs, old.Close())
		}
	}
	for _, s := range gone {
		errs = append(errs, q.restoreSegment(s))
	}
	if q.durable() {
		errs = append(errs, syncDir(q.dir))
	}
	q.ackMu.Lock()
	if q.acks != nil {
		// Also rewritten when only segments were lost: the checkpoint then matches them.
		errs = append(errs, q.checkpointLocked(q.durable()))
	}
	q.ackMu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return true, err
	}
	q.log.Info("queue: deleted files written back", "dir", q.dir, "segments", len(gone))
	return true, nil
}

// restoreSegment copies a deleted segment's file from its open descriptor to a new file under
// its name, and switches to the new file. Offsets stay the same, so the index stays valid.
func (q *Queue) restoreSegment(s *segment) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	if s.closed {
		return nil
	}
	old := s.fd()
	tmp := s.path + ".restore"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("queue: restore %s: %w", filepath.Base(s.path), err)
	}
	q.mu.Lock()
	n := s.alloc
	q.mu.Unlock()
	_, err = io.Copy(io.NewOffsetWriter(f, 0), io.NewSectionReader(old, 0, n))
	if err == nil && q.durable() {
		err = syncData(f)
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("queue: restore %s: %w", filepath.Base(s.path), err), f.Close(), os.Remove(tmp))
	}
	s.file.Store(f)
	s.retired = append(s.retired, old) // a delivery may be reading it now
	s.synced = min(s.synced, n)
	q.writes.Add(1)
	return nil
}
