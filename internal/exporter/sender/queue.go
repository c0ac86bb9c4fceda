package sender

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/otlp-dev/otlp/internal/bufpool"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/resilience"
)

// ErrClosed is returned by a Queue's Put after Close, and by Get once a closed queue is empty.
var ErrClosed = errors.New("sender: queue closed")

// ErrQueueFull is the cause of the Throttled error a full queue refuses a batch with.
var ErrQueueFull = errors.New("sender: queue full")

// queueFullRetryAfter is the wait suggested to senders refused by a full queue.
const queueFullRetryAfter = time.Second

// Queue holds batches between Consume and the workers. MemoryQueue is the default; a durable
// queue can take its place through Settings.Queue.
type Queue interface {
	// Put stores b, copying b.Body (it is borrowed) unless b.Owner lets it take the body; on
	// error nothing was kept. It returns ErrClosed after Close, or a
	// resilience.Throttled error when there is no room.
	Put(ctx context.Context, b pipeline.Batch) error
	// Get waits for the oldest batch. After Close it still returns what is queued, then
	// ErrClosed (a Keeper may return ErrClosed at once: it keeps the rest); it returns ctx's
	// error when ctx ends first.
	Get(ctx context.Context) (Item, error)
	// Close refuses further Puts and lets Get drain.
	Close()
	// Discard is called once the workers stopped: it returns the batches that will be lost so
	// that the sender counts them. A durable queue keeps its contents and returns nil.
	Discard() []pipeline.Batch
	// Len and Cap are the queued items (being sent included) and the item capacity, for the
	// queue gauge.
	Len() int
	Cap() int
}

// Item is a batch taken from a Queue. The worker calls Done exactly once: handled true once the
// batch was delivered or counted dropped, false when shutdown interrupted its delivery (a
// memory queue takes it back for Discard, a durable queue keeps it for the next start) or,
// with a Keeper, when its retries ran out (it is delivered again, first).
type Item struct {
	Batch pipeline.Batch
	Done  func(handled bool)
}

// MemoryQueue is a FIFO bounded by items and bytes. A batch larger than the whole bound is
// still accepted when the queue is empty, so that no batch size is refused forever.
type MemoryQueue struct {
	cfg    QueueConfig
	onDrop func(pipeline.Batch)

	mu       sync.Mutex
	batches  []pipeline.Batch // guarded by mu; oldest first
	items    int              // guarded by mu
	sending  int              // guarded by mu; items of batches taken by Get and not yet Done
	bytes    int64            // guarded by mu
	closed   bool             // guarded by mu
	notEmpty chan struct{}    // guarded by mu; closed and replaced when a batch is added or on Close
	notFull  chan struct{}    // guarded by mu; closed and replaced when room is made or on Close
	getters  int              // guarded by mu; Gets waiting on notEmpty
	putters  int              // guarded by mu; Puts waiting on notFull

	spare bufpool.FreeList // bodies of delivered batches, for reuse
}

// Recycling bounds: copying every borrowed batch into a fresh allocation was most of the
// server's garbage when forwarding; a few spare buffers remove it without holding much memory.
const (
	maxSpareBuffers = 4
	maxSpareBytes   = 8 << 20
)

// copyBody copies a borrowed body into a recycled buffer when one is large enough.
func (q *MemoryQueue) copyBody(body []byte) []byte {
	if buf := q.spare.Get(len(body)); buf != nil {
		return append(buf, body...)
	}
	return slices.Clone(body)
}

// recycle keeps buf for a later copyBody, within the bounds.
func (q *MemoryQueue) recycle(buf []byte) { q.spare.Put(buf) }

// NewMemoryQueue returns a queue bounded by cfg.QueueSize items and cfg.MaxBytes bytes with
// cfg.FullPolicy. onDrop (may be nil) is called, without locks held, for every batch the
// drop_oldest policy discards.
func NewMemoryQueue(cfg QueueConfig, onDrop func(pipeline.Batch)) *MemoryQueue {
	if onDrop == nil {
		onDrop = func(pipeline.Batch) {}
	}
	return &MemoryQueue{cfg: cfg, onDrop: onDrop, notEmpty: make(chan struct{}), notFull: make(chan struct{}),
		spare: bufpool.FreeList{MaxBuffers: maxSpareBuffers, MaxBytes: maxSpareBytes}}
}

// Put implements Queue.
func (q *MemoryQueue) Put(ctx context.Context, b pipeline.Batch) (err error) {
	if b.Owner.Take(b.Body) {
		defer func() {
			if err != nil {
				b.Owner.Untake()
			}
		}()
	} else {
		b.Body, b.Owner = q.copyBody(b.Body), nil
	}
	var (
		dropped []pipeline.Batch
		timer   *time.Timer
		expired <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		for _, d := range dropped {
			q.onDrop(d)
		}
	}()
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		if q.fitsLocked(b) {
			q.batches = append(q.batches, b)
			q.items += b.Items
			q.bytes += int64(len(b.Body))
			if q.getters > 0 {
				broadcast(&q.notEmpty)
			}
			q.mu.Unlock()
			return nil
		}
		if q.cfg.FullPolicy == PolicyDropOldest {
			dropped = append(dropped, q.popLocked())
			continue
		}
		if q.cfg.BlockTimeout <= 0 {
			q.mu.Unlock()
			return resilience.Throttled(ErrQueueFull, queueFullRetryAfter)
		}
		if timer == nil {
			timer = time.NewTimer(q.cfg.BlockTimeout)
			expired = timer.C
		}
		wait := q.notFull
		q.putters++
		q.mu.Unlock()
		var err error
		select {
		case <-wait:
		case <-expired:
			err = resilience.Throttled(ErrQueueFull, queueFullRetryAfter)
		case <-ctx.Done():
			err = resilience.Throttled(errors.Join(ErrQueueFull, ctx.Err()), queueFullRetryAfter)
		}
		q.mu.Lock()
		q.putters--
		if err != nil {
			q.mu.Unlock()
			return err
		}
	}
}

func (q *MemoryQueue) fitsLocked(b pipeline.Batch) bool {
	if len(q.batches) == 0 {
		return true
	}
	if q.items+b.Items > q.cfg.QueueSize {
		return false
	}
	return q.cfg.MaxBytes == 0 || q.bytes+int64(len(b.Body)) <= q.cfg.MaxBytes
}

// popLocked removes the oldest batch; the queue is not empty.
func (q *MemoryQueue) popLocked() pipeline.Batch {
	b := q.batches[0]
	q.batches[0] = pipeline.Batch{}
	q.batches = q.batches[1:]
	q.items -= b.Items
	q.bytes -= int64(len(b.Body))
	if q.putters > 0 {
		broadcast(&q.notFull)
	}
	return b
}

// Get implements Queue.
func (q *MemoryQueue) Get(ctx context.Context) (Item, error) {
	q.mu.Lock()
	for len(q.batches) == 0 {
		if q.closed {
			q.mu.Unlock()
			return Item{}, ErrClosed
		}
		wait := q.notEmpty
		q.getters++
		q.mu.Unlock()
		var err error
		select {
		case <-wait:
		case <-ctx.Done():
			err = ctx.Err()
		}
		q.mu.Lock()
		q.getters--
		if err != nil {
			q.mu.Unlock()
			return Item{}, err
		}
	}
	b := q.popLocked()
	q.sending += b.Items
	q.mu.Unlock()
	return Item{Batch: b, Done: func(handled bool) {
		q.mu.Lock()
		q.sending -= b.Items
		q.mu.Unlock()
		if !handled {
			q.putBack(b)
			return
		}
		if b.Owner != nil {
			b.Owner.Release(b.Body) // taken from the producer: its buffer goes back there
			return
		}
		q.recycle(b.Body)
	}}, nil
}

// putBack returns an interrupted batch to the head of the queue, even past the bounds: it
// was accepted once and must be counted by Discard.
func (q *MemoryQueue) putBack(b pipeline.Batch) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.batches = slices.Insert(q.batches, 0, b)
	q.items += b.Items
	q.bytes += int64(len(b.Body))
	if q.getters > 0 {
		broadcast(&q.notEmpty)
	}
}

// Close implements Queue.
func (q *MemoryQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		broadcast(&q.notEmpty)
		broadcast(&q.notFull)
	}
}

// Discard implements Queue: a memory queue loses everything left.
func (q *MemoryQueue) Discard() []pipeline.Batch {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.batches
	q.batches, q.items, q.bytes = nil, 0, 0
	broadcast(&q.notFull)
	return out
}

// Len implements Queue: the items queued and those being sent, so that the queue gauge shows
// what a crash or a shutdown now would put at risk, as a disk queue's does.
func (q *MemoryQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.items + q.sending
}

// Cap implements Queue.
func (q *MemoryQueue) Cap() int { return q.cfg.QueueSize }

// Bytes is the size of the queued request bodies.
func (q *MemoryQueue) Bytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// broadcast wakes every waiter on *ch; the caller holds the lock guarding *ch.
func broadcast(ch *chan struct{}) {
	close(*ch)
	*ch = make(chan struct{})
}
