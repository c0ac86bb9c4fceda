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
	if errors.Is(err, errNewerFormat) {
		// Moved aside rather than refused: the records are delivered again (at least once), and a
		// queue that cannot start would refuse everything new.
		aside, qerr := quarantine(filepath.Join(q.dir, ackFile))
		if qerr != nil {
			return errors.Join(err, qerr)
		}
		q.log.Warn("queue: ack log of an unknown format version moved aside; every queued record will be delivered again",
			"dir", q.dir, "err", err, "moved_to", aside)
		acks, err = ackState{settled: map[uint64]struct{}{}}, nil
	}
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
	// Each segment's first id, when its header is readable: in two segments of consecutive
	// sequence numbers the ids are consecutive too, so the next one's first id bounds what a
	// damaged or truncated one held.
	firsts := make([]uint64, len(seqs))
	for i, seq := range seqs {
		firsts[i] = readFirstID(filepath.Join(q.dir, segName(seq)))
	}
	nextFirst := func(i int) uint64 {
		if i+1 < len(seqs) && seqs[i+1] == seqs[i]+1 {
			return firsts[i+1]
		}
		return 0
	}
	q.nextSeq = 1
	for i, seq := range seqs {
		q.nextSeq = seq + 1
		contiguous := i > 0 && seqs[i-1] == seq-1
		from := prevID + 1
		s, recs, err := q.recoverSegment(seq, i == len(seqs)-1, &prevID, nextFirst(i), &acks, &fx)
		if errors.Is(err, errNewerFormat) {
			q.quarantineSegment(seq, err, contiguous, from, nextFirst(i), &acks)
			continue
		}
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
	if len(seqs) > 0 && q.nextID != prevID+1 {
		// Ids were skipped (settled or lost records at the end of the last segment): skip a
		// sequence number too, so that the next Open does not take the gap for damage.
		q.nextSeq++
	}
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
			return errors.Join(fmt.Errorf("queue: %w", err), s.fd().Close())
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
func (q *Queue) recoverSegment(seq uint64, last bool, prevID *uint64, nextFirst uint64, acks *ackState, fx *effects) (*segment, []scannedRecord, error) {
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
	res, err := scanSegment(f, size, last, *prevID, nextFirst)
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
	s := &segment{seq: seq, path: path, size: res.end, alloc: fileSize, sealed: true, synced: fileSize}
	s.file.Store(f)
	s.written.Store(fileSize)
	q.diskBytes += fileSize
	return s, res.recs, nil
}

// quarantineSuffix marks a file moved aside because this version cannot read it.
const quarantineSuffix = ".quarantined"

// quarantine renames path aside and returns the new name.
func quarantine(path string) (string, error) {
	aside := path + quarantineSuffix
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("queue: move aside: %w", err)
	}
	return aside, nil
}

// quarantineSegment moves aside a segment whose header names a format version this one cannot
// read (a newer version's file, or a damaged version field, which the header checksum does not
// cover), counts it as damage, and lets the queue start without it. When both neighbours are
// of consecutive sequence numbers, the ids it held are known and counted.
func (q *Queue) quarantineSegment(seq uint64, cause error, contiguous bool, from, to uint64, acks *ackState) {
	path := filepath.Join(q.dir, segName(seq))
	var size int64
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	}
	aside, err := quarantine(path)
	if err != nil {
		aside = "(not moved: " + err.Error() + ")"
	}
	lost := int64(-1)
	if contiguous && to > from {
		lost = acks.unsettledIn(from, to)
		q.corruptRecs += lost
	}
	q.corruptions++
	q.corruptBytes += size
	q.log.Warn("queue: segment of an unknown format version (written by a newer version, or damaged) moved aside; its records are not delivered",
		"segment", path, "err", cause, "moved_to", aside, "bytes", size, "records_lost", lost,
		"hint", "a newer version of this program can deliver them: move the file back under its old name and start that version")
}

// readFirstID is the first id in a segment's header, or 0 when it cannot be read.
func readFirstID(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	b := make([]byte, segHeaderSize)
	n, _ := f.ReadAt(b, 0)
	h, ok, err := decodeSegHeader(b[:n])
	if !ok || err != nil {
		return 0
	}
	return h.firstID
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
