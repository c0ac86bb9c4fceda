package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Delivery is one record handed to a consumer. The consumer must call Ack once the
// downstream has accepted it, or Nack to have it delivered again. Body is read-only and valid
// only until Ack or Nack is called: the queue reuses its memory.
type Delivery struct {
	pipeline.Batch
	// ID identifies the record; it increases in Put order and is never reused in a directory.
	ID uint64
	// Enqueued is when Put accepted the record.
	Enqueued time.Time

	q       *Queue
	r       *record
	attempt uint32
}

// Ack settles the delivery: the record leaves the queue. A restart before the ack reached the
// ack log redelivers it (a duplicate, never a loss).
func (d Delivery) Ack() error { return d.q.finish(d, true) }

// Nack gives the record back: it is delivered again, before newer records.
func (d Delivery) Nack() error { return d.q.finish(d, false) }

func (q *Queue) finish(d Delivery, ack bool) error {
	if q == nil || d.r == nil {
		return ErrNotInFlight
	}
	r := d.r
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	if (r.state != stateInFlight && r.state != stateEvicted) || r.attempt != d.attempt {
		q.mu.Unlock()
		return ErrNotInFlight
	}
	if r.state == stateEvicted {
		// drop_oldest took it off disk while it was delivered: delivered now, or lost.
		var fx effects
		q.releaseLocked(r)
		r.state = stateSettled
		delete(q.offDisk, r)
		if !ack {
			q.countDropLocked(r, DropQueueFull, &fx)
		}
		q.mu.Unlock()
		return q.apply(&fx)
	}
	if ack {
		var fx effects
		q.settleLocked(r, &fx)
		q.mu.Unlock()
		return q.apply(&fx)
	}
	r.state = stateReady
	q.inflight--
	q.pool.put(r.lent)
	r.lent = nil
	q.ready.pushFront(r)
	q.wakeLocked(&q.itemsCh, &q.itemsWaiters)
	if q.drop {
		q.wakeLocked(&q.spaceCh, &q.spaceWaiters) // it can be dropped now
	}
	q.mu.Unlock()
	return nil
}

// Get returns the oldest record not being delivered, waiting until there is one, ctx ends
// (ctx.Err()) or the queue closes (ErrClosed). A record already waiting is returned even if
// ctx is done, so a done ctx makes Get a poll. Records older than max_age are dropped on the
// way (counted), as are records found damaged on disk.
func (q *Queue) Get(ctx context.Context) (Delivery, error) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return Delivery{}, ErrClosed
		}
		r, ok := q.ready.popFront()
		if !ok {
			ch := q.itemsCh
			q.itemsWaiters++
			q.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-q.closedCh:
				return Delivery{}, ErrClosed
			case <-ctx.Done():
				return Delivery{}, ctx.Err()
			}
		}
		if q.maxAge > 0 && q.now().Sub(time.Unix(0, r.enqNano)) > q.maxAge {
			var fx effects
			q.dropLocked(r, DropMaxAge, &fx)
			q.mu.Unlock()
			q.apply(&fx)
			continue
		}
		r.state = stateInFlight
		r.attempt++
		q.inflight++
		rb, attempt := r.buf, r.attempt
		r.reading = rb == nil
		q.mu.Unlock()

		if rb == nil {
			var err error
			rb, err = q.readRecord(r)
			q.mu.Lock()
			r.reading = false
			if err == nil {
				r.lent = rb // pooled again when the delivery is settled or given back
				if q.drop {
					q.wakeLocked(&q.spaceCh, &q.spaceWaiters) // it can be taken off disk now
				}
			}
			q.mu.Unlock()
			if err != nil {
				if errors.Is(err, errCorrupt) {
					q.dropCorrupt(r, attempt, err)
					continue
				}
				q.giveBack(r, attempt)
				if q.isClosed() {
					return Delivery{}, ErrClosed
				}
				q.log.Error("queue: read failed", "segment", r.seg.path, "offset", r.off, "err", err)
				return Delivery{}, fmt.Errorf("queue: read record %d: %w", r.id, err)
			}
		}
		return Delivery{
			Batch:    pipeline.Batch{Signal: r.signal, Body: rb.b[recHeaderSize:r.size], Items: r.items},
			ID:       r.id,
			Enqueued: time.Unix(0, r.enqNano),
			q:        q,
			r:        r,
			attempt:  attempt,
		}, nil
	}
}

var errCorrupt = errors.New("record damaged on disk")

// readRecord reads a record that is no longer in memory back from its segment, checking it.
func (q *Queue) readRecord(r *record) (_ *recBuf, err error) {
	q.diskReads.Add(1)
	rb := q.pool.get(int(r.size))
	defer func() {
		if err != nil {
			q.pool.put(rb)
		}
	}()
	buf := rb.b
	if n, err := r.seg.fd().ReadAt(buf, r.off); err != nil {
		if int64(n) < r.size && !errors.Is(err, os.ErrClosed) {
			return nil, fmt.Errorf("%w: short read (%d of %d bytes): %w", errCorrupt, n, r.size, err)
		}
		return nil, err
	}
	h, err := decodeHeader(buf)
	if err == nil && (h.id != r.id || int64(h.length) != r.size-recHeaderSize) {
		err = errors.New("header differs from the one indexed")
	}
	if err == nil {
		err = h.checkPayload(buf[recHeaderSize:])
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return rb, nil
}

func (q *Queue) dropCorrupt(r *record, attempt uint32, cause error) {
	q.log.Error("queue: damaged record dropped", "segment", r.seg.path, "offset", r.off, "id", r.id, "items", r.items, "err", cause)
	var fx effects
	q.mu.Lock()
	if r.state == stateInFlight && r.attempt == attempt {
		q.corruptions++
		q.corruptBytes += r.size
		q.corruptRecs++
		q.dropLocked(r, DropCorrupt, &fx)
	}
	q.mu.Unlock()
	q.apply(&fx)
}

// giveBack returns a record whose read failed to the front of the queue.
func (q *Queue) giveBack(r *record, attempt uint32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r.state == stateInFlight && r.attempt == attempt {
		r.state = stateReady
		q.inflight--
		q.ready.pushFront(r)
	}
}

func (q *Queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// logSettled appends ack entries for ids, and rewrites the log when it has grown.
func (q *Queue) logSettled(ids []uint64) error {
	q.ackMu.Lock()
	defer q.ackMu.Unlock()
	if q.acks == nil {
		return nil // closed: the final checkpoint already holds them
	}
	b := q.ackBuf[:0]
	for _, id := range ids {
		var e [ackEntrySize]byte
		b = append(b, e[:]...)
		encodeAck(b[len(b)-ackEntrySize:], ackTypeSettled, id)
	}
	q.ackBuf = b[:0]
	_, err := q.acks.Write(b)
	q.writes.Add(1)
	q.ackEntries += len(ids)
	q.ackDirty = true
	if err != nil {
		q.log.Warn("queue: append to ack log; the records may be redelivered after a restart", "err", err)
		err = fmt.Errorf("queue: ack log: %w", err)
	}
	q.mu.Lock()
	threshold := max(ackCompactMin, 2*q.indexed)
	q.mu.Unlock()
	if q.ackEntries >= threshold || err != nil {
		err = errors.Join(err, q.checkpointLocked(q.durable()))
	}
	return err
}

// checkpointLocked rewrites the ack log as a watermark plus the ids settled above it; the
// caller holds ackMu.
func (q *Queue) checkpointLocked(durable bool) error {
	q.mu.Lock()
	watermark := q.lastID + 1
	if r := q.oldestLocked(); r != nil {
		watermark = r.id
	}
	// Settled records of deleted segments need no entry: their files are gone.
	var settled []uint64
	for _, s := range q.segs {
		for _, r := range s.recs[s.head:] {
			if !r.onDisk() && r.id > watermark {
				settled = append(settled, r.id)
			}
		}
	}
	q.mu.Unlock()
	f, err := writeAckCheckpoint(q.dir, watermark, settled, durable)
	if err != nil {
		q.log.Warn("queue: ack checkpoint", "err", err)
		return err
	}
	if durable {
		q.syncs.Add(2)
	}
	q.writes.Add(1)
	old := q.acks
	q.acks, q.ackEntries, q.ackDirty = f, 0, false
	if old != nil {
		return old.Close()
	}
	return nil
}

// Counts are records and the items (spans, metric points, log records) they held.
type Counts struct {
	Records int64
	Items   int64
}

// Stats is a snapshot of the queue.
type Stats struct {
	Records     int           // records queued, in flight included
	InFlight    int           // records handed to consumers, not yet settled
	Items       int64         // spans, metric points and log records in Records
	MemoryBytes int64         // bytes of buffers holding records also kept in memory
	DiskBytes   int64         // bytes of segment files
	Segments    int           // segment files
	OldestAge   time.Duration // age of the oldest unsettled record
	// Dropped counts records dropped by reason (DropQueueFull, DropMaxAge, DropCorrupt).
	Dropped map[string]Counts
	// Corruptions counts damaged stretches found (torn tails, bad records, bad headers);
	// CorruptBytes their bytes; CorruptRecords the records known to be lost in them (records
	// lost in a torn tail cannot be counted).
	Corruptions    int64
	CorruptBytes   int64
	CorruptRecords int64
	// Writes, Syncs and DiskReads count write and fsync system calls and records read back
	// from disk since Open.
	Writes, Syncs, DiskReads int64
	// WriteError is why the last append failed (the file system full, say), nil once one
	// succeeds; WriteFailingSince is when appends started failing.
	WriteError        error
	WriteFailingSince time.Time
}

// Stats returns a snapshot.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := Stats{
		Records:        q.records,
		InFlight:       q.inflight,
		Items:          q.items,
		MemoryBytes:    q.memBytes,
		DiskBytes:      q.diskBytes,
		Segments:       len(q.segs),
		Dropped:        make(map[string]Counts, len(q.dropped)),
		Corruptions:    q.corruptions,
		CorruptBytes:   q.corruptBytes,
		CorruptRecords: q.corruptRecs,
		Writes:         q.writes.Load(),
		Syncs:          q.syncs.Load(),
		DiskReads:      q.diskReads.Load(),

		WriteError:        q.writeErr,
		WriteFailingSince: q.writeErrAt,
	}
	if r := q.oldestLocked(); r != nil {
		st.OldestAge = max(0, q.now().Sub(time.Unix(0, r.enqNano)))
	}
	for k, v := range q.dropped {
		st.Dropped[k] = v
	}
	return st
}

// Dir returns the queue's directory.
func (q *Queue) Dir() string { return q.dir }
