package queue

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

const (
	segSuffix   = ".seg"
	spareSuffix = ".spare" // a settled segment file kept for recycling
)

// segment is one append-only file of records.
type segment struct {
	seq  uint64
	path string
	// file is replaced only when the file was deleted while open and is written back (see
	// restoreFiles); the one it replaces stays open in retired until the segment closes.
	file    atomic.Pointer[os.File]
	retired []*os.File // guarded by Queue.syncMu

	// size is the end of the last record. Written with both wsem and mu held (only the active
	// segment grows), so it may be read under either.
	size int64
	// alloc is the file's length: size plus the end marker, or a recycled file's old contents.
	// Same locking as size.
	alloc int64
	// live counts records not yet settled; guarded by Queue.mu.
	live int
	// recs indexes the segment's records in id order, settled ones included, so that the ack
	// checkpoint can list what is settled out of order; it goes with the segment. head is the
	// first that may be unsettled. Guarded by Queue.mu.
	recs []*record
	head int
	// sealed is set once no more records will be appended; guarded by Queue.mu.
	sealed bool
	// deleted is set when the segment is scheduled for removal; guarded by Queue.mu.
	deleted bool

	// written is size, readable without locks by the fsync paths.
	written atomic.Int64
	// synced is the length known to be on stable storage; guarded by Queue.syncMu.
	synced int64
	// closed is set once f is closed; guarded by Queue.syncMu.
	closed bool
}

func (s *segment) fd() *os.File { return s.file.Load() }

// closeFiles closes the segment's file and any it replaced; the caller holds Queue.syncMu.
func (s *segment) closeFiles() error {
	errs := []error{s.fd().Close()}
	for _, f := range s.retired {
		errs = append(errs, f.Close())
	}
	s.retired = nil
	return errors.Join(errs...)
}

func segName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, segSuffix) }

// parseSegName returns the sequence number of a segment file name.
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// listSegments returns the segment sequence numbers in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, e := range ents { // ReadDir sorts by name, and names are zero-padded
		if seq, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			seqs = append(seqs, seq)
		}
	}
	return seqs, nil
}

func spareName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, spareSuffix) }

// createSegment creates a new segment file whose records start at firstID.
func createSegment(dir string, seq, firstID uint64) (*segment, error) {
	path := filepath.Join(dir, segName(seq))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("queue: create segment: %w", err)
	}
	hdr := segHeader{firstID: firstID}.encode()
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return nil, errors.Join(fmt.Errorf("queue: write segment header: %w", err), f.Close(), os.Remove(path))
	}
	s := &segment{seq: seq, path: path, size: segHeaderSize, alloc: int64(len(hdr))}
	s.file.Store(f)
	s.written.Store(s.alloc)
	return s, nil
}

// recycleSegment turns a spare file into segment seq: the new header goes in before the
// rename, so the file never carries the new name with the old header. Its old records stay
// behind the end marker; their ids are below firstID, so no reader takes them as new.
func recycleSegment(dir, sparePath string, spareAlloc int64, seq, firstID uint64, durable bool) (*segment, error) {
	f, err := os.OpenFile(sparePath, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	hdr := segHeader{firstID: firstID, flags: segRecycled}.encode()
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	if durable {
		if err := syncData(f); err != nil {
			return nil, errors.Join(err, f.Close())
		}
	}
	path := filepath.Join(dir, segName(seq))
	if err := os.Rename(sparePath, path); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	s := &segment{seq: seq, path: path, size: segHeaderSize, alloc: max(spareAlloc, int64(len(hdr)))}
	s.file.Store(f)
	s.written.Store(int64(len(hdr)))
	return s, nil
}

// scannedRecord is a record found by scanSegment.
type scannedRecord struct {
	h   recHeader
	off int64
	bad bool // header intact, payload damaged
}

// damage is a stretch of a segment that holds no readable record.
type damage struct {
	off, end int64 // bytes [off, end)
	// lostFrom and lostTo bound the ids (exclusive) that the stretch must have held, when a
	// valid record follows it; both are 0 for damage at the tail, whose count is unknown.
	lostFrom, lostTo uint64
	// known is a record whose header is intact but whose payload is not.
	known *recHeader
}

// scanResult is what scanSegment found.
type scanResult struct {
	recs   []scannedRecord
	damage []damage
	// end is the offset just past the last intact record: the file can be truncated there.
	end int64
}

// scanSegment reads the records of a segment of size bytes. With verify, payload checksums
// are checked too (the last segment, where torn writes happen), and the bytes after a clean end
// are searched for records that outlived lost writes; otherwise only headers are read and
// payloads are checked when delivered. Records must carry ids above prevID. nextFirst, when
// not 0, is the first id of the segment that followed this one: ids below it that the scan did
// not find were cut off this segment's end. It never fails on content: damage is reported in
// the result; only I/O errors and a segment of a newer format version are returned.
func scanSegment(r io.ReaderAt, size int64, verify bool, prevID, nextFirst uint64) (scanResult, error) {
	res, minID, err := scanRecords(r, size, verify, prevID)
	if err != nil || nextFirst <= minID {
		return res, err
	}
	// Records are missing from the end: the file was cut short (at a record boundary, or in
	// a record, which the scan found as damage at the tail).
	if n := len(res.damage); n > 0 && res.damage[n-1].end == size && res.damage[n-1].lostTo == 0 && res.damage[n-1].known == nil {
		res.damage[n-1].lostFrom, res.damage[n-1].lostTo = minID, nextFirst
	} else {
		res.damage = append(res.damage, damage{off: size, end: size, lostFrom: minID, lostTo: nextFirst})
	}
	return res, nil
}

// scanRecords is scanSegment without the check against the next segment; it also returns the
// lowest id the records after the scanned ones may have.
func scanRecords(r io.ReaderAt, size int64, verify bool, prevID uint64) (scanResult, uint64, error) {
	var res scanResult
	hdr := make([]byte, segHeaderSize)
	n, err := r.ReadAt(hdr, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return res, 0, err
	}
	h, ok, err := decodeSegHeader(hdr[:n])
	if err != nil {
		return res, 0, err
	}
	minID := prevID + 1
	// A damaged header leaves the file's history unknown: take what follows the end of data
	// for a recycled file's leftovers rather than report it as damage too.
	recycled := true
	if ok {
		minID = max(minID, h.firstID)
		recycled = h.flags&segRecycled != 0
	} else {
		res.damage = append(res.damage, damage{off: 0, end: min(size, segHeaderSize)})
	}
	res.end = min(size, segHeaderSize)
	sc := scanner{r: r, size: size}
	off := int64(segHeaderSize)
	for off < size {
		h, status, err := sc.recordAt(off, verify, minID)
		if err != nil {
			return res, minID, err
		}
		switch status {
		case recOK:
			res.recs = append(res.recs, scannedRecord{h: h, off: off})
			minID = h.id + 1
			off += recHeaderSize + int64(h.length)
			res.end = off
			continue
		case recBadPayload:
			// The header is intact, so its length is trustworthy: skip exactly this record.
			next := off + recHeaderSize + int64(h.length)
			res.recs = append(res.recs, scannedRecord{h: h, off: off, bad: true})
			res.damage = append(res.damage, damage{off: off, end: next, known: &h})
			minID = h.id + 1
			off = next
			continue
		case recEnd:
			// A fresh file ends with the marker, or without it at a record boundary; a recycled
			// one has its old contents after the marker.
			if recycled || off+endMarkerSize >= size {
				if !verify {
					return res, minID, nil
				}
				next, h, err := sc.resync(off+1, minID)
				if err != nil || next >= size {
					return res, minID, err
				}
				res.damage = append(res.damage, damage{off: off, end: next, lostFrom: minID, lostTo: h.id})
				off = next
				continue
			}
		}
		next, h, err := sc.resync(off+1, minID)
		if err != nil {
			return res, minID, err
		}
		d := damage{off: off, end: next}
		if next < size {
			d.lostFrom, d.lostTo = minID, h.id
		}
		res.damage = append(res.damage, d)
		off = next
	}
	return res, minID, nil
}

type recStatus int

const (
	recBad        recStatus = iota // no record starts here
	recOK                          // a complete, valid record
	recBadPayload                  // a valid header whose payload is damaged
	recEnd                         // the end marker, or an older record: the end of data
)

// scanner reads records with positioned reads, reusing its buffers.
type scanner struct {
	r    io.ReaderAt
	size int64
	hdr  [recHeaderSize]byte
	buf  []byte
}

// recordAt checks for a record with an id of at least minID at off.
func (s *scanner) recordAt(off int64, verify bool, minID uint64) (recHeader, recStatus, error) {
	n := min(s.size-off, recHeaderSize)
	b := s.hdr[:n]
	if _, err := s.r.ReadAt(b, off); err != nil {
		return recHeader{}, recBad, fmt.Errorf("read record header at %d: %w", off, err)
	}
	if isZero(b) {
		return recHeader{}, recEnd, nil
	}
	if n < recHeaderSize {
		return recHeader{}, recBad, nil
	}
	h, err := decodeHeader(b)
	switch {
	case err != nil:
		return recHeader{}, recBad, nil
	case h.id < minID:
		return recHeader{}, recEnd, nil
	case off+recHeaderSize+int64(h.length) > s.size:
		return recHeader{}, recBad, nil
	case !verify:
		return h, recOK, nil
	}
	if cap(s.buf) < int(h.length) {
		s.buf = make([]byte, h.length)
	}
	p := s.buf[:h.length]
	if _, err := s.r.ReadAt(p, off+recHeaderSize); err != nil {
		return recHeader{}, recBad, fmt.Errorf("read record payload at %d: %w", off, err)
	}
	if h.checkPayload(p) != nil {
		return h, recBadPayload, nil
	}
	return h, recOK, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// resync looks for the next complete, verified record with an id of at least minID at or
// after from, by searching for the record magic. It returns size when there is none.
func (s *scanner) resync(from int64, minID uint64) (int64, recHeader, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk+len(recMagic)-1)
	for base := from; base < s.size; base += chunk {
		n, err := s.r.ReadAt(buf[:min(int64(len(buf)), s.size-base)], base)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, recHeader{}, fmt.Errorf("read at %d: %w", base, err)
		}
		window := buf[:n]
		for i := 0; ; {
			j := bytes.Index(window[i:], []byte(recMagic))
			if j < 0 || int64(i+j) >= chunk {
				break
			}
			cand := base + int64(i+j)
			h, status, err := s.recordAt(cand, true, minID)
			if err != nil {
				return 0, recHeader{}, err
			}
			if status == recOK {
				return cand, h, nil
			}
			i += j + 1
		}
	}
	return s.size, recHeader{}, nil
}
