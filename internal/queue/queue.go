// Package queue is the durable, crash-safe queue in front of exporters, in the agent and the
// server.
//
// Every Put is written through to an append-only segment file before it returns, so data
// accepted from a sender survives kill -9 (and, with fsync = "always", power loss). Recent
// records are also kept in memory, within a byte budget, so a consumer that keeps up never
// reads back from disk. A record leaves the queue only when a consumer acknowledges it
// (at-least-once); acknowledgements may arrive out of order and are logged, so a restart
// redelivers exactly the records not yet acknowledged. Damaged files are detected by
// checksums, skipped and counted, never fatal. The format is in docs/queue-format.md.
package queue

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/resilience"
)

var (
	// ErrClosed is returned by every method once Close has begun.
	ErrClosed = errors.New("queue: closed")
	// ErrFull is wrapped (in a resilience.Throttled error) by a Put that waited for space
	// under the block policy until its context ended.
	ErrFull = errors.New("queue: full")
	// ErrTooLarge is wrapped (in a resilience.Permanent error) by a Put whose item can never
	// fit.
	ErrTooLarge = errors.New("queue: item too large")
	// ErrLocked is returned by Open when another queue holds the directory.
	ErrLocked = errors.New("queue: directory in use by another queue")
	// ErrNotInFlight is returned by Ack or Nack on a delivery already settled or given back.
	ErrNotInFlight = errors.New("queue: delivery not in flight")
)

// FullRetryDelay is the delay a Put refused for lack of space asks its sender to wait.
const FullRetryDelay = time.Second

// maxSpares is how many settled segment files are kept for recycling. One is enough for a
// consumer that keeps up: two files take turns.
const maxSpares = 1

// ackCompactMin is the number of appended ack entries after which the ack log is rewritten
// (more if many records are indexed, so that rewriting stays cheap per entry).
const ackCompactMin = 1 << 14

type recState uint8

const (
	stateReady recState = iota
	stateInFlight
	stateSettled
	// stateEvicted is a record in flight that drop_oldest took off disk to make room: its
	// consumer still holds it, an Ack delivers it, a Nack drops it (counted).
	stateEvicted
)

// onDisk reports whether the record still holds its place in the files.
func (r *record) onDisk() bool { return r.state == stateReady || r.state == stateInFlight }

// record is the in-memory index entry of one queued item.
type record struct {
	id      uint64
	seg     *segment
	off     int64 // of the record header in seg
	size    int64 // header and payload
	enqNano int64
	items   int
	signal  pipeline.Signal

	// Guarded by Queue.mu.
	state   recState
	attempt uint32  // deliveries so far, to reject a stale Ack after a Nack
	buf     *recBuf // header and payload while kept in memory; nil when only on disk
	lent    *recBuf // read back from disk for the delivery in flight
	reading bool    // in flight and being read back from disk
}

// spare is a settled segment file kept to be recycled: writing over pages already in the page
// cache is several times cheaper than writing new ones, and fdatasync of an overwrite needs no
// journal commit.
type spare struct {
	path  string
	alloc int64
}

// Queue is a durable FIFO of OTLP requests. Create it with Open; it is safe for concurrent use.
type Queue struct {
	dir    string
	lim    limits
	drop   bool // full policy is drop_oldest
	fsync  string
	every  time.Duration
	maxAge time.Duration
	log    *slog.Logger
	now    func() time.Time
	onDrop func(Drop)

	maxItem  int
	pool     bufPool
	lockF    *os.File
	closedCh chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup

	// wsem is held by the one Put that appends; a channel so that waiting honours ctx.
	wsem chan struct{}
	// Guarded by wsem.
	nextID  uint64
	nextSeq uint64
	// activeSeg is the segment being appended to, for the background syncer.
	activeSeg atomic.Pointer[segment]

	mu sync.Mutex
	// Guarded by mu.
	closed       bool
	active       *segment   // also only changed with wsem held
	segs         []*segment // on disk, in sequence order, active last
	spares       []spare    // settled segment files ready to be recycled
	sparing      int        // segments on their way to becoming spares
	indexed      int        // records in the segments' indexes
	memRecs      int        // records holding a buffer
	ready        deque[*record]
	mem          deque[*record] // records that may hold data, oldest first
	records      int
	inflight     int
	offDisk      map[*record]struct{} // in flight, taken off disk by drop_oldest
	items        int64
	diskBytes    int64
	memBytes     int64
	lastID       uint64 // highest id published
	itemsCh      chan struct{}
	itemsWaiters int
	spaceCh      chan struct{}
	spaceWaiters int
	dropped      map[string]Counts
	corruptions  int64
	corruptBytes int64
	corruptRecs  int64
	writeErr     error     // of the last append, nil once one succeeds
	writeErrAt   time.Time // when appends started failing

	// syncMu serialises fsyncs and file closing (group commit).
	syncMu sync.Mutex

	ackMu sync.Mutex
	// Guarded by ackMu.
	acks       *os.File // nil once closed
	ackEntries int      // appended since the last checkpoint
	ackDirty   bool     // appended since the last fsync
	ackBuf     []byte

	writes    atomic.Int64
	syncs     atomic.Int64
	diskReads atomic.Int64
}

// Open opens or creates the queue in dir (cfg.Dir when dir is empty), recovering what a
// previous run left: unsettled records are queued again in order, damaged bytes are skipped,
// counted and logged. It fails if another queue holds the directory.
func Open(dir string, cfg Config, set Settings) (*Queue, error) {
	if dir == "" {
		dir = cfg.Dir
	}
	if dir == "" {
		return nil, errors.New("queue: dir: must be set")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	lockF, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		dir:      dir,
		lim:      cfg.limits(),
		drop:     cfg.FullPolicy == FullDropOldest,
		fsync:    cfg.Fsync,
		every:    cfg.FsyncInterval,
		maxAge:   cfg.MaxAge,
		log:      set.Logger,
		now:      set.Now,
		onDrop:   set.OnDrop,
		lockF:    lockF,
		closedCh: make(chan struct{}),
		stop:     make(chan struct{}),
		wsem:     make(chan struct{}, 1),
		itemsCh:  make(chan struct{}),
		spaceCh:  make(chan struct{}),
		dropped:  map[string]Counts{},
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.now == nil {
		q.now = time.Now
	}
	q.maxItem = int(min(maxPayload, q.lim.maxDisk-2*(segHeaderSize+endMarkerSize)-recHeaderSize))
	if err := q.recover(); err != nil {
		return nil, errors.Join(err, q.closeFiles(), lockF.Close())
	}
	if q.fsync == FsyncInterval {
		q.wg.Go(q.runSyncer)
	}
	q.wg.Go(q.runFileCheck)
	return q, nil
}

func (q *Queue) durable() bool { return q.fsync != FsyncNever }

// Put appends a copy of b. It returns once the record is written (and, with fsync =
// "always", on stable storage). When the disk bound is reached it drops the oldest records
// (drop_oldest) or waits for space until ctx ends (block), then returns a
// resilience.Throttled error wrapping ErrFull, which receivers turn into a retryable OTLP
// status. ctx only bounds waiting: a Put that finds room succeeds even if ctx is done.
func (q *Queue) Put(ctx context.Context, b pipeline.Batch) error {
	if len(b.Body) > q.maxItem || b.Items < 0 || b.Items > math.MaxUint32 {
		return resilience.Permanent(fmt.Errorf("%w: %d bytes, %d items (limit %d bytes)", ErrTooLarge, len(b.Body), b.Items, q.maxItem))
	}
	// Copy and checksum before taking the write slot, so that concurrent Puts overlap here.
	// The buffer ends with the end marker, written with the record.
	size := recHeaderSize + len(b.Body)
	rb := q.pool.get(size + endMarkerSize)
	copy(rb.b[recHeaderSize:size], b.Body)
	clear(rb.b[size:])
	h := recHeader{
		enqNano: q.now().UnixNano(),
		length:  uint32(len(b.Body)),
		crc:     crc32.Checksum(rb.b[recHeaderSize:size], castagnoli),
		items:   uint32(b.Items),
		signal:  uint8(b.Signal),
	}
	if err := q.acquireWrite(ctx); err != nil {
		q.pool.put(rb)
		return err
	}
	s, end, err := q.append(ctx, rb, &h, b.Items)
	<-q.wsem
	if err != nil {
		q.pool.put(rb)
		return err
	}
	if q.fsync == FsyncAlways {
		if err := q.syncTo(s, end); err != nil {
			q.log.Error("queue: fsync failed", "segment", s.path, "err", err)
			return fmt.Errorf("queue: fsync: %w", err)
		}
	}
	return nil
}

// acquireWrite takes the write slot.
func (q *Queue) acquireWrite(ctx context.Context) error {
	select {
	case <-q.closedCh:
		return ErrClosed
	default:
	}
	select {
	case q.wsem <- struct{}{}:
		return nil
	default:
	}
	select {
	case q.wsem <- struct{}{}:
		return nil
	case <-q.closedCh:
		return ErrClosed
	case <-ctx.Done():
		// The slot is held by a Put that waits for space, or is slow to write: full either way.
		return resilience.Throttled(fmt.Errorf("%w: waited for the write slot: %w", ErrFull, context.Cause(ctx)), FullRetryDelay)
	}
}

// append writes one encoded record; the caller holds wsem. It returns the segment written
// and the end offset, for fsync.
func (q *Queue) append(ctx context.Context, rb *recBuf, h *recHeader, items int) (*segment, int64, error) {
	buf := rb.b
	size := int64(len(buf)) - endMarkerSize
	if err := q.waitSpace(ctx, size); err != nil {
		return nil, 0, err
	}
	if q.needRotate(size) {
		if err := q.rotate(); err != nil {
			return nil, 0, err
		}
	}
	h.id = q.nextID
	h.encode(buf)
	s, off, err := q.writeRecord(buf)
	if errors.Is(err, syscall.ENOSPC) && q.reclaim() {
		// The file system is full, but part of it was ours to give back: try once more.
		s, off, err = q.writeRecord(buf)
	}
	q.noteWrite(s, err)
	if err != nil {
		return nil, 0, writeErr(err)
	}
	q.nextID++
	end := off + size
	s.written.Store(max(s.written.Load(), end+endMarkerSize))
	r := &record{id: h.id, seg: s, off: off, size: size, enqNano: h.enqNano, items: items, signal: pipeline.Signal(h.signal), buf: rb}
	q.mu.Lock()
	s.size = end
	if alloc := end + endMarkerSize; alloc > s.alloc {
		q.diskBytes += alloc - s.alloc
		s.alloc = alloc
	}
	s.live++
	q.publishLocked(r)
	q.mu.Unlock()
	return s, end, nil
}

// writeRecord writes buf at the end of the active segment; the caller holds wsem. A failed
// write is cut off again, so the end of file still marks the end of data.
func (q *Queue) writeRecord(buf []byte) (*segment, int64, error) {
	s := q.active
	off := s.size
	_, err := s.fd().WriteAt(buf, off)
	if err == nil {
		q.writes.Add(1)
		return s, off, nil
	}
	if terr := s.fd().Truncate(off); terr != nil {
		err = errors.Join(err, terr)
	} else {
		q.mu.Lock()
		q.diskBytes -= s.alloc - off
		s.alloc = off
		q.mu.Unlock()
	}
	return s, off, err
}

// reclaim gives back the disk space the queue holds without needing it, after the file
// system ran out: spare files, and the active segment when every record in it is settled (it
// would otherwise keep its space until it fills to segment_bytes, which a full disk never
// lets it do). It reports whether anything was freed. The caller holds wsem.
func (q *Queue) reclaim() bool {
	q.mu.Lock()
	spares := q.spares
	q.spares = nil
	for _, sp := range spares {
		q.diskBytes -= sp.alloc
	}
	s := q.active
	reset := s.live == 0 && s.alloc > segHeaderSize
	q.mu.Unlock()
	freed := false
	for _, sp := range spares {
		if err := os.Remove(sp.path); err != nil {
			q.log.Warn("queue: remove spare segment", "path", sp.path, "err", err)
			continue
		}
		freed = true
	}
	if reset {
		if err := q.resetActive(s); err != nil {
			q.log.Warn("queue: free settled records of the active segment", "segment", s.path, "err", err)
		} else {
			freed = true
		}
	}
	if freed {
		q.log.Info("queue: file system full; freed the space of settled records", "dir", q.dir)
	}
	return freed
}

// resetActive empties the active segment s, whose records are all settled, in place: the file
// is cut to its header, which then names the next id as the first. A crash between the two
// leaves a segment with no records, which recovery deletes. The caller holds wsem.
func (q *Queue) resetActive(s *segment) error {
	if err := s.fd().Truncate(segHeaderSize); err != nil {
		return err
	}
	q.mu.Lock()
	q.diskBytes -= s.alloc - segHeaderSize
	s.alloc, s.size = segHeaderSize, segHeaderSize
	q.indexed -= len(s.recs)
	s.recs, s.head = nil, 0
	q.mu.Unlock()
	s.written.Store(segHeaderSize)
	q.syncMu.Lock()
	s.synced = min(s.synced, segHeaderSize)
	q.syncMu.Unlock()
	// Overwriting the header's bytes needs no new space.
	if _, err := s.fd().WriteAt(segHeader{firstID: q.nextID}.encode(), 0); err != nil {
		return err
	}
	if !q.durable() {
		return nil
	}
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	return syncData(s.fd())
}

// noteWrite records whether the last append could write, for Stats, and says so in the log
// when that changes (not once per refused request).
func (q *Queue) noteWrite(s *segment, err error) {
	q.mu.Lock()
	prev, since := q.writeErr, q.writeErrAt
	switch {
	case err == nil:
		q.writeErr, q.writeErrAt = nil, time.Time{}
	case prev == nil:
		q.writeErr, q.writeErrAt = err, q.now()
	default:
		q.writeErr = err
	}
	q.mu.Unlock()
	switch {
	case err == nil && prev != nil:
		q.log.Info("queue: writing again", "dir", q.dir, "failed_for", q.now().Sub(since).Round(time.Millisecond))
	case err != nil && (prev == nil || prev.Error() != err.Error()):
		hint := "new data is refused with a retry delay until it can be written"
		if errors.Is(err, syscall.ENOSPC) {
			hint = "the file system is full: free space or set max_disk_mib below what it can hold; " + hint
		}
		q.log.Warn("queue: write failed", "segment", s.path, "err", err, "hint", hint)
	}
}

// writeErr classifies a failed write: a full file system is retryable after a delay.
func writeErr(err error) error {
	err = fmt.Errorf("queue: write: %w", err)
	if errors.Is(err, syscall.ENOSPC) {
		return resilience.Throttled(err, FullRetryDelay)
	}
	return err
}

// needRotate reports whether a record of size starts a new segment; the caller holds wsem.
func (q *Queue) needRotate(size int64) bool {
	return q.active.size > segHeaderSize && q.active.size+size+endMarkerSize > q.lim.segment
}

// growthLocked is how many more bytes the files take once a record of size is appended.
func (q *Queue) growthLocked(size int64) int64 {
	if q.needRotate(size) {
		n := segHeaderSize + size + endMarkerSize
		if k := len(q.spares); k > 0 {
			return max(0, n-q.spares[k-1].alloc)
		}
		return n
	}
	return max(0, q.active.size+size+endMarkerSize-q.active.alloc)
}

// waitSpace returns once size more bytes fit under the disk bound, applying the full policy.
// The caller holds wsem, so no other append competes for the space it finds.
func (q *Queue) waitSpace(ctx context.Context, size int64) error {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		need := q.growthLocked(size)
		if q.diskBytes+need <= q.lim.maxDisk {
			q.mu.Unlock()
			return nil
		}
		if k := len(q.spares); k > 0 && (k > 1 || !q.needRotate(size)) {
			// Space before recycling.
			sp := q.spares[k-1]
			q.spares = q.spares[:k-1]
			q.diskBytes -= sp.alloc
			q.mu.Unlock()
			if err := os.Remove(sp.path); err != nil {
				q.log.Warn("queue: remove spare segment", "path", sp.path, "err", err)
			}
			continue
		}
		if q.active.live == 0 && q.active.size > segHeaderSize {
			// The active segment holds only settled records: start a new one to free it.
			q.mu.Unlock()
			if err := q.rotate(); err != nil {
				return err
			}
			continue
		}
		if q.drop {
			var fx effects
			if q.dropOldestLocked(&fx) {
				q.mu.Unlock()
				q.apply(&fx)
				continue
			}
		}
		ch := q.spaceCh
		q.spaceWaiters++
		disk := q.diskBytes
		q.mu.Unlock()
		select {
		case <-ch:
		case <-q.closedCh:
			return ErrClosed
		case <-ctx.Done():
			return resilience.Throttled(fmt.Errorf("%w: %d of %d bytes on disk, %d more needed: %w",
				ErrFull, disk, q.lim.maxDisk, need, context.Cause(ctx)), FullRetryDelay)
		}
	}
}

// dropOldestLocked drops the oldest record on disk, reporting whether there was one to drop.
// When a delivery holds it (a sender retrying a merged export against an upstream that is
// down, say), it is taken off disk and its delivery goes on from memory, deciding whether it
// was lost. Sparing it would keep the oldest data and drop everything newer, and make every Put
// wait once deliveries hold the space.
func (q *Queue) dropOldestLocked(fx *effects) bool {
	if r := q.oldestLocked(); r != nil && r.state == stateInFlight && !r.reading {
		q.takeOffDiskLocked(r, fx)
		return true
	}
	if r, ok := q.ready.popFront(); ok {
		q.dropLocked(r, DropQueueFull, fx)
		return true
	}
	return false // only a record being read back from disk is left: Get wakes the waiter
}

// rotate seals the active segment and starts the next; the caller holds wsem.
func (q *Queue) rotate() error {
	old := q.active
	if old.alloc > old.size {
		// A sealed segment ends at the end of its file: cut the end marker and, in a recycled
		// file, the old contents.
		if err := old.fd().Truncate(old.size); err != nil {
			q.log.Warn("queue: truncate sealed segment", "segment", old.path, "err", err)
		} else {
			q.mu.Lock()
			q.diskBytes -= old.alloc - old.size
			old.alloc = old.size
			q.mu.Unlock()
		}
	}
	if q.durable() {
		if err := q.syncTo(old, old.written.Load()); err != nil {
			return fmt.Errorf("queue: fsync: %w", err)
		}
	}
	s, grown, err := q.newSegment()
	if err != nil {
		return writeErr(err)
	}
	q.writes.Add(1)
	q.nextSeq++
	var fx effects
	q.mu.Lock()
	old.sealed = true
	q.segs = append(q.segs, s)
	q.active = s
	q.diskBytes += grown
	if old.live == 0 {
		q.deleteSegLocked(old, &fx)
	}
	q.mu.Unlock()
	q.activeSeg.Store(s)
	return q.apply(&fx)
}

// newSegment starts segment nextSeq, recycling a spare file when there is one. It returns how
// many bytes the files grew by. The caller holds wsem.
func (q *Queue) newSegment() (*segment, int64, error) {
	q.mu.Lock()
	var sp spare
	ok := len(q.spares) > 0
	if ok {
		sp = q.spares[len(q.spares)-1]
		q.spares = q.spares[:len(q.spares)-1]
	}
	q.mu.Unlock()
	if ok {
		s, err := recycleSegment(q.dir, sp.path, sp.alloc, q.nextSeq, q.nextID, q.durable())
		if err == nil {
			return s, s.alloc - sp.alloc, nil
		}
		q.log.Warn("queue: recycle segment", "path", sp.path, "err", err)
		q.mu.Lock()
		q.diskBytes -= sp.alloc
		q.mu.Unlock()
		os.Remove(sp.path)
	}
	s, err := createSegment(q.dir, q.nextSeq, q.nextID)
	if err != nil {
		return nil, 0, err
	}
	if q.durable() {
		if err := syncDir(q.dir); err != nil {
			q.log.Warn("queue: fsync directory", "err", err)
		}
	}
	return s, s.alloc, nil
}

// publishLocked makes a written record available to Get.
func (q *Queue) publishLocked(r *record) {
	r.seg.recs = append(r.seg.recs, r)
	q.indexed++
	q.ready.pushBack(r)
	q.records++
	q.items += int64(r.items)
	q.lastID = r.id
	if n := int64(cap(r.buf.b)); n <= q.lim.maxMemory {
		q.mem.pushBack(r)
		q.memBytes += n
		q.memRecs++
		q.evictLocked()
	} else {
		q.pool.put(r.buf)
		r.buf = nil
	}
	q.wakeLocked(&q.itemsCh, &q.itemsWaiters)
}

// evictLocked releases the in-memory copies of the oldest records beyond the memory budget;
// they stay on disk and are read back when delivered.
func (q *Queue) evictLocked() {
	for q.memBytes > q.lim.maxMemory {
		r, ok := q.mem.popFront()
		if !ok {
			break
		}
		if r.buf != nil {
			q.memBytes -= int64(cap(r.buf.b))
			q.memRecs--
			if r.state == stateReady {
				q.pool.put(r.buf) // else a consumer holds it: leave it to the GC
			}
			r.buf = nil
		}
	}
	for q.mem.len() > 0 && q.mem.front().buf == nil {
		q.mem.popFront()
	}
	// Settled records leave holes behind a record kept long in memory: squeeze them out.
	if n := q.mem.len(); n > 1024 && n > 2*q.memRecs {
		var kept deque[*record]
		for i := range n {
			if r := q.mem.at(i); r.buf != nil {
				kept.pushBack(r)
			}
		}
		q.mem = kept
	}
}

// wakeLocked wakes every goroutine waiting on *ch.
func (q *Queue) wakeLocked(ch *chan struct{}, waiters *int) {
	if *waiters > 0 {
		close(*ch)
		*ch = make(chan struct{})
		*waiters = 0
	}
}

// effects are the side effects of settling records, applied after mu is released.
type effects struct {
	dead    []*segment
	spare   []*segment
	settled []uint64
	drops   []Drop
}

// settleLocked marks r done: acknowledged or dropped.
func (q *Queue) settleLocked(r *record, fx *effects) {
	q.releaseLocked(r)
	r.state = stateSettled
	q.leaveDiskLocked(r, fx)
}

// releaseLocked gives back the memory of r: only the consumer that settled it could still hold
// it, and it is done with it.
func (q *Queue) releaseLocked(r *record) {
	if r.state == stateInFlight || r.state == stateEvicted {
		q.inflight--
	}
	if r.buf != nil {
		q.memBytes -= int64(cap(r.buf.b))
		q.memRecs--
		q.pool.put(r.buf)
		r.buf = nil
	}
	q.pool.put(r.lent)
	r.lent = nil
}

// takeOffDiskLocked takes the in-flight record r off disk (drop_oldest): it is settled in the
// ack log and its segment may go, but its buffers stay with the consumer until Ack or Nack.
func (q *Queue) takeOffDiskLocked(r *record, fx *effects) {
	r.state = stateEvicted
	if q.offDisk == nil {
		q.offDisk = make(map[*record]struct{})
	}
	q.offDisk[r] = struct{}{}
	q.leaveDiskLocked(r, fx)
}

// leaveDiskLocked removes r from the queue's files and counts: its id goes to the ack log and
// its segment is deleted once nothing in it is left.
func (q *Queue) leaveDiskLocked(r *record, fx *effects) {
	q.records--
	q.items -= int64(r.items)
	fx.settled = append(fx.settled, r.id)
	s := r.seg
	s.live--
	if s.live == 0 && s.sealed {
		q.deleteSegLocked(s, fx)
	}
}

// oldestLocked returns the unsettled record with the lowest id, or nil.
func (q *Queue) oldestLocked() *record {
	for _, s := range q.segs {
		for s.head < len(s.recs) && !s.recs[s.head].onDisk() {
			s.head++
		}
		if s.head < len(s.recs) {
			return s.recs[s.head]
		}
	}
	return nil
}

// dropLocked settles r as lost for reason, counting it.
func (q *Queue) dropLocked(r *record, reason string, fx *effects) {
	q.countDropLocked(r, reason, fx)
	q.settleLocked(r, fx)
}

// countDropLocked counts r as lost for reason.
func (q *Queue) countDropLocked(r *record, reason string, fx *effects) {
	c := q.dropped[reason]
	c.Records++
	c.Items += int64(r.items)
	q.dropped[reason] = c
	fx.drops = append(fx.drops, Drop{Reason: reason, Signal: r.signal, Items: r.items, Bytes: int(r.size - recHeaderSize)})
}

// deleteSegLocked schedules the removal of a segment whose records are all settled, or keeps
// its file as a spare when it is of the usual size and none is kept yet.
func (q *Queue) deleteSegLocked(s *segment, fx *effects) {
	if s.deleted {
		return
	}
	s.deleted = true
	if i := slices.Index(q.segs, s); i >= 0 {
		q.segs = slices.Delete(q.segs, i, i+1)
	}
	q.indexed -= len(s.recs)
	s.recs = nil
	if len(q.spares)+q.sparing < maxSpares && s.alloc >= q.lim.segment/2 && s.alloc <= q.lim.segment {
		q.sparing++
		fx.spare = append(fx.spare, s)
		return
	}
	q.diskBytes -= s.alloc
	fx.dead = append(fx.dead, s)
	q.wakeLocked(&q.spaceCh, &q.spaceWaiters)
}

// apply performs the effects of settling, outside mu.
func (q *Queue) apply(fx *effects) error {
	var errs []error
	for _, s := range fx.dead {
		errs = append(errs, q.removeSegment(s))
	}
	for _, s := range fx.spare {
		q.keepSpare(s)
	}
	if len(fx.settled) > 0 {
		errs = append(errs, q.logSettled(fx.settled))
	}
	if q.onDrop != nil {
		for _, d := range fx.drops {
			q.onDrop(d)
		}
	}
	return errors.Join(errs...)
}

// removeSegment closes and deletes a fully settled segment. It holds syncMu throughout, so
// that Close, which takes syncMu, never returns with a removal under way; once the queue is
// closed the file is left for the next Open, which deletes it, its records being settled.
func (q *Queue) removeSegment(s *segment) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	err := q.closeSegLocked(s)
	if err == nil && !q.isClosed() {
		err = os.Remove(s.path)
	}
	if err != nil {
		q.log.Warn("queue: remove segment", "segment", s.path, "err", err)
		return fmt.Errorf("queue: remove segment: %w", err)
	}
	return nil
}

// keepSpare closes a settled segment and renames its file to a spare; same locking as
// removeSegment.
func (q *Queue) keepSpare(s *segment) {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	err := q.closeSegLocked(s)
	closed := q.isClosed()
	path := filepath.Join(q.dir, spareName(s.seq))
	if err == nil && !closed {
		err = os.Rename(s.path, path)
	}
	if err != nil {
		q.log.Warn("queue: keep spare segment", "segment", s.path, "err", err)
		if !closed {
			os.Remove(s.path)
		}
	}
	q.mu.Lock()
	q.sparing--
	if err == nil && !closed {
		q.spares = append(q.spares, spare{path: path, alloc: s.alloc})
	} else {
		q.diskBytes -= s.alloc
	}
	q.wakeLocked(&q.spaceCh, &q.spaceWaiters) // a waiting Put may take the spare's space
	q.mu.Unlock()
}

// closeSegLocked closes a segment's file once; the caller holds syncMu.
func (q *Queue) closeSegLocked(s *segment) error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeFiles()
}

// syncTo makes s durable up to at least pos. Concurrent callers share one fsync: whoever
// gets syncMu first covers everything written so far (group commit).
func (q *Queue) syncTo(s *segment, pos int64) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	if s.closed || s.synced >= pos {
		return nil
	}
	target := s.written.Load()
	if err := syncData(s.fd()); err != nil {
		return err
	}
	q.syncs.Add(1)
	s.synced = target
	return nil
}

// runSyncer is the fsync = "interval" loop.
func (q *Queue) runSyncer() {
	t := time.NewTicker(q.every)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
		}
		if s := q.activeSeg.Load(); s != nil {
			if err := q.syncTo(s, s.written.Load()); err != nil {
				q.log.Error("queue: fsync failed", "segment", s.path, "err", err)
			}
		}
		q.syncAcks()
	}
}

// syncAcks fsyncs the ack log if entries were appended since the last time.
func (q *Queue) syncAcks() {
	q.ackMu.Lock()
	defer q.ackMu.Unlock()
	if q.acks == nil || !q.ackDirty {
		return
	}
	if err := syncData(q.acks); err != nil {
		q.log.Warn("queue: fsync ack log", "err", err)
		return
	}
	q.syncs.Add(1)
	q.ackDirty = false
}

// Close stops the queue: blocked Put and Get calls return ErrClosed, the files are fsynced
// (whatever the fsync policy) and the ack state is checkpointed. Records delivered but not
// yet acknowledged are delivered again after the next Open. Close is idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.closedCh)
	// Records drop_oldest took off disk while they were delivered are not coming back.
	var fx effects
	for r := range q.offDisk {
		q.countDropLocked(r, DropQueueFull, &fx)
	}
	q.offDisk = nil
	q.mu.Unlock()
	for _, d := range fx.drops {
		if q.onDrop != nil {
			q.onDrop(d)
		}
	}
	close(q.stop)
	q.wg.Wait()
	q.wsem <- struct{}{} // wait out an append in progress; never released

	var errs []error
	q.syncMu.Lock()
	q.mu.Lock()
	segs := slices.Clone(q.segs)
	q.mu.Unlock()
	for _, s := range segs {
		if s.closed {
			continue
		}
		if s.written.Load() > s.synced {
			if err := syncData(s.fd()); err != nil {
				errs = append(errs, fmt.Errorf("queue: fsync %s: %w", filepath.Base(s.path), err))
			}
		}
		s.closed = true
		errs = append(errs, s.closeFiles())
	}
	q.syncMu.Unlock()

	q.ackMu.Lock()
	if q.acks != nil {
		errs = append(errs, q.checkpointLocked(true))
		errs = append(errs, q.acks.Close())
		q.acks = nil
	}
	q.ackMu.Unlock()
	errs = append(errs, q.lockF.Close())
	return errors.Join(errs...)
}

// closeFiles closes whatever recover opened, after a failed Open.
func (q *Queue) closeFiles() error {
	var errs []error
	for _, s := range q.segs {
		errs = append(errs, s.fd().Close())
	}
	if q.acks != nil {
		errs = append(errs, q.acks.Close())
	}
	return errors.Join(errs...)
}
