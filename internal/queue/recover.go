package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// recover rebuilds the queue from dir at Open: it reads the ack log, scans every segment,
// queues the unsettled records in id order, deletes fully settled segments, rewrites the ack
// log and starts a new active segment. Earlier segments are never appended to again.
func (q *Queue) recover() error {
	start := time.Now()
	if err := os.Remove(filepath.Join(q.dir, ackTmpFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("queue: %w", err)
	}
	if err := removeSpares(q.dir); err != nil {
		return err
	}
	acks, err := readAcks(q.dir)
	if err != nil {
		return err
	}
	if acks.damaged > 0 {
		q.log.Warn("queue: damaged ack log entries skipped; their records may be delivered again", "dir", q.dir, "entries", acks.damaged)
	}
	seqs, err := listSegments(q.dir)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}

	type found struct {
		s    *segment
		recs []scannedRecord
	}
	var (
		all    []found
		prevID uint64
		fx     effects
	)
	q.nextSeq = 1
	for i, seq := range seqs {
		q.nextSeq = seq + 1
		s, recs, err := q.recoverSegment(seq, i == len(seqs)-1, &prevID, &acks, &fx)
		if err != nil {
			return err
		}
		if s != nil {
			q.segs = append(q.segs, s)
			all = append(all, found{s, recs})
		}
	}

	for _, f := range all {
		for _, sr := range f.recs {
			if !sr.bad && !acks.isSettled(sr.h.id) {
				f.s.live++
			}
		}
	}
	for _, f := range all {
		if f.s.live == 0 {
			q.deleteSegLocked(f.s, &fx)
			continue
		}
		for _, sr := range f.recs {
			r := &record{
				id: sr.h.id, seg: f.s, off: sr.off, size: recHeaderSize + int64(sr.h.length),
				enqNano: sr.h.enqNano, items: int(sr.h.items), signal: pipeline.Signal(sr.h.signal),
			}
			if sr.bad || acks.isSettled(r.id) {
				// Indexed only so that the next ack checkpoint lists it as settled.
				r.state = stateSettled
			} else {
				q.ready.pushBack(r)
				q.records++
				q.items += int64(r.items)
			}
			f.s.recs = append(f.s.recs, r)
			q.indexed++
		}
	}
	fx.settled = nil // already in the checkpoint below
	if err := q.apply(&fx); err != nil {
		return err
	}

	q.nextID = max(prevID+1, acks.minNext, 1)
	q.lastID = q.nextID - 1
	q.ackMu.Lock()
	err = q.checkpointLocked(q.durable())
	q.ackMu.Unlock()
	if err != nil {
		return err
	}
	s, err := createSegment(q.dir, q.nextSeq, q.nextID)
	if err != nil {
		return err
	}
	q.nextSeq++
	if q.durable() {
		if err := syncDir(q.dir); err != nil {
			return errors.Join(fmt.Errorf("queue: %w", err), s.f.Close())
		}
	}
	q.segs = append(q.segs, s)
	q.active = s
	q.activeSeg.Store(s)
	q.diskBytes += s.alloc
	if len(seqs) > 0 {
		q.log.Info("queue: recovered", "dir", q.dir, "records", q.records, "items", q.items,
			"segments", len(q.segs), "disk_bytes", q.diskBytes, "corruptions", q.corruptions,
			"took", time.Since(start))
	}
	return nil
}

// removeSpares deletes the spare files of an earlier run (recycling starts again once a
// segment drains).
func removeSpares(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), spareSuffix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("queue: %w", err)
			}
		}
	}
	return nil
}

// recoverSegment opens and scans one segment. Only the last one has its payloads verified and
// its damaged tail truncated: earlier ones were complete when the next was started, and their
// payloads are verified when delivered. It returns a nil segment for an empty file, which a
// crash during creation leaves behind and which is removed.
func (q *Queue) recoverSegment(seq uint64, last bool, prevID *uint64, acks *ackState, fx *effects) (*segment, []scannedRecord, error) {
	path := filepath.Join(q.dir, segName(seq))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("queue: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("queue: %w", err), f.Close())
	}
	size := fi.Size()
	if size == 0 {
		return nil, nil, errors.Join(f.Close(), os.Remove(path))
	}
	res, err := scanSegment(f, size, last, *prevID)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("queue: segment %s: %w", filepath.Base(path), err), f.Close())
	}
	if n := len(res.recs); n > 0 {
		*prevID = res.recs[n-1].h.id
	}
	q.reportDamage(path, size, res.damage, acks, fx)
	fileSize := size
	if last && res.end < size {
		if err := f.Truncate(res.end); err != nil {
			return nil, nil, errors.Join(fmt.Errorf("queue: truncate damaged tail: %w", err), f.Close())
		}
		if q.durable() {
			if err := syncData(f); err != nil {
				return nil, nil, errors.Join(fmt.Errorf("queue: %w", err), f.Close())
			}
		}
		fileSize = res.end
	}
	s := &segment{seq: seq, path: path, f: f, size: res.end, alloc: fileSize, sealed: true, synced: fileSize}
	s.written.Store(fileSize)
	q.diskBytes += fileSize
	return s, res.recs, nil
}

// reportDamage counts and logs the damaged stretches of one segment.
func (q *Queue) reportDamage(path string, size int64, ds []damage, acks *ackState, fx *effects) {
	for _, d := range ds {
		q.corruptions++
		q.corruptBytes += d.end - d.off
		lost := int64(-1) // unknown
		switch {
		case d.known != nil:
			lost = 0
			if !acks.isSettled(d.known.id) {
				lost = 1
				r := &record{size: recHeaderSize + int64(d.known.length), items: int(d.known.items), signal: pipeline.Signal(d.known.signal)}
				c := q.dropped[DropCorrupt]
				c.Records++
				c.Items += int64(r.items)
				q.dropped[DropCorrupt] = c
				fx.drops = append(fx.drops, Drop{Reason: DropCorrupt, Signal: r.signal, Items: r.items, Bytes: int(d.known.length)})
			}
		case d.lostTo > d.lostFrom:
			lost = acks.unsettledIn(d.lostFrom, d.lostTo)
		}
		if lost > 0 {
			q.corruptRecs += lost
		}
		q.log.Warn("queue: damaged bytes skipped", "segment", path, "offset", d.off,
			"bytes", d.end-d.off, "at_tail", d.end == size, "records_lost", lost)
	}
}

// unsettledIn counts the ids in [from, to) that the ack state does not hold settled.
func (a *ackState) unsettledIn(from, to uint64) int64 {
	if from < a.watermark {
		from = min(a.watermark, to)
	}
	n := int64(to - from)
	for id := range a.settled {
		if id >= from && id < to {
			n--
		}
	}
	return n
}
