package otlp

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlp-dev/otlp/internal/bufpool"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

// destRef lets a reload swap the destination under running batchers.
type destRef struct{ p atomic.Pointer[destination] }

func (r *destRef) load() destination          { return *r.p.Load() }
func (r *destRef) store(d destination)        { r.p.Store(&d) }
func (r *destRef) current(d destination) bool { return r.load() == d }

// batchLimits are the reloadable batch settings.
type batchLimits struct {
	maxBatch     atomic.Int64
	maxBytes     atomic.Int64 // 0: no cap
	maxQueue     atomic.Int64
	timeout      atomic.Int64 // ns
	blockTimeout atomic.Int64 // ns; < 0 drops at once
}

func (l *batchLimits) set(c BatchConfig) {
	l.maxBatch.Store(int64(c.MaxSize))
	l.maxBytes.Store(int64(c.MaxBytes))
	l.maxQueue.Store(int64(c.QueueSize))
	l.timeout.Store(int64(c.Timeout))
	bt := int64(c.BlockTimeout)
	if c.FullPolicy == FullDrop {
		bt = -1
	}
	l.blockTimeout.Store(bt)
}

// Bounds of the emptied chunks a batcher keeps for reuse.
const (
	maxSpareChunks   = 32
	maxSpareChunkCap = 1 << 14 // items
)

// batcher buffers items in memory in chunks of at most maxBatch items, and from one worker
// encodes each chunk into one request and hands it to the destination's queue. A full chunk
// wakes the worker at once; the one being filled waits for the batch timeout (or a flush), so
// requests are full ones under load. When the buffer is full an item waits up to the block
// timeout for room or is dropped; every drop is counted by reason.
type batcher[T any] struct {
	sig    pipeline.Signal
	encode func(dst []byte, items []T) []byte
	dest   *destRef
	limits *batchLimits
	m      *selftel.Metrics
	log    *slog.Logger

	// bodies are encoded request buffers for reuse. The sending queue takes a buffer instead
	// of copying it (pipeline.Owner) and gives it back here once the request was sent.
	bodies   bufpool.FreeList
	accepted atomic.Int64
	dropped  atomic.Int64
	inFlight atomic.Int64 // taken by the worker, not yet handed to the queue

	mu     sync.Mutex
	full   [][]T         // guarded by mu; chunks of maxBatch items, oldest first
	cur    []T           // guarded by mu; the chunk being filled
	items  int64         // guarded by mu; items in full and cur
	spare  [][]T         // guarded by mu; emptied chunks, for reuse
	room   chan struct{} // guarded by mu; closed when the worker takes items
	closed bool          // guarded by mu

	kick  chan struct{}
	flush chan chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

func newBatcher[T any](sig pipeline.Signal, encode func([]byte, []T) []byte, dest *destRef, limits *batchLimits, m *selftel.Metrics, log *slog.Logger) *batcher[T] {
	b := &batcher[T]{sig: sig, encode: encode, dest: dest, limits: limits, m: m, log: log,
		room: make(chan struct{}), kick: make(chan struct{}, 1), flush: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{}),
		// A few requests' worth; a buffer grown by a burst is left to the GC.
		bodies: bufpool.FreeList{MaxBuffers: 4, MaxCap: 4 << 20}}
	go b.run()
	return b
}

// add buffers one item.
func (b *batcher[T]) add(item T) {
	b.accepted.Add(1)
	var timer *time.Timer
	b.mu.Lock()
	for b.items >= b.limits.maxQueue.Load() && !b.closed {
		bt := time.Duration(b.limits.blockTimeout.Load())
		if bt <= 0 {
			b.mu.Unlock()
			b.drop(1, selftel.ReasonQueueFull)
			return
		}
		room := b.room
		b.mu.Unlock()
		b.wake()
		if timer == nil {
			timer = time.NewTimer(bt)
			defer timer.Stop()
		}
		select {
		case <-room:
		case <-timer.C:
			b.drop(1, selftel.ReasonQueueFull)
			return
		}
		b.mu.Lock()
	}
	if b.closed {
		b.mu.Unlock()
		b.drop(1, selftel.ReasonShutdown)
		return
	}
	if b.cur == nil {
		if n := len(b.spare); n > 0 {
			b.cur = b.spare[n-1]
			b.spare[n-1] = nil
			b.spare = b.spare[:n-1]
		}
	}
	b.cur = append(b.cur, item)
	b.items++
	full := int64(len(b.cur)) >= b.limits.maxBatch.Load()
	if full {
		b.full = append(b.full, b.cur)
		b.cur = nil
	}
	b.mu.Unlock()
	if full {
		b.wake()
	}
}

func (b *batcher[T]) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *batcher[T]) drop(n int, reason string) {
	b.dropped.Add(int64(n))
	b.m.Dropped(b.sig, reason, n)
}

// buffered is the items not yet in the destination's queue.
func (b *batcher[T]) buffered() int64 {
	b.mu.Lock()
	n := b.items
	b.mu.Unlock()
	return n + b.inFlight.Load()
}

func (b *batcher[T]) run() {
	defer close(b.done)
	var w worker[T]
	timer := time.NewTimer(time.Duration(b.limits.timeout.Load()))
	defer timer.Stop()
	for {
		var reply chan struct{}
		all := true
		select {
		case <-b.kick:
			all = false
		case <-timer.C:
		case reply = <-b.flush:
		case <-b.stop:
			b.send(&w, true)
			return
		}
		b.send(&w, all)
		if reply != nil {
			close(reply)
		}
		timer.Reset(time.Duration(b.limits.timeout.Load()))
	}
}

// worker is the scratch space of the batcher's worker.
type worker[T any] struct {
	chunks    [][]T
	itemBytes int // encoded bytes per item of the last request, to size the next under max_bytes
}

// send hands the full chunks to the destination, and the one being filled too when all is
// set, or when the buffer is full without a full chunk (a reload shrank queue_size below
// max_size) so that an add waiting for room gets it.
func (b *batcher[T]) send(w *worker[T], all bool) {
	b.mu.Lock()
	w.chunks = append(w.chunks[:0], b.full...)
	clear(b.full)
	b.full = b.full[:0]
	if len(b.cur) > 0 && (all || len(w.chunks) == 0 && b.items >= b.limits.maxQueue.Load()) {
		w.chunks = append(w.chunks, b.cur)
		b.cur = nil
	}
	var n int64
	for _, c := range w.chunks {
		n += int64(len(c))
	}
	b.items -= n
	b.inFlight.Store(n)
	if n > 0 {
		close(b.room)
		b.room = make(chan struct{})
	}
	b.mu.Unlock()

	size := int(max(b.limits.maxBatch.Load(), 1))
	maxBytes := int(b.limits.maxBytes.Load())
	for _, c := range w.chunks {
		for rest := c; len(rest) > 0; { // a chunk filled before a reload shrank max_size is split
			n := min(size, len(rest))
			if maxBytes > 0 && w.itemBytes > 0 {
				n = max(1, min(n, maxBytes/w.itemBytes))
			}
			body := b.encode(b.bodies.Get(0), rest[:n])
			// Larger items than the last request's: fewer per request until it fits (an item
			// larger than max_bytes on its own goes alone; the collector decides).
			for maxBytes > 0 && len(body) > maxBytes && n > 1 {
				n /= 2
				body = b.encode(body[:0], rest[:n])
			}
			w.itemBytes = len(body)/n + 1
			owner := pipeline.NewOwner(body, b.bodies.Put)
			b.deliver(pipeline.Batch{Signal: b.sig, Body: body, Items: n, Owner: owner})
			if !owner.Taken() {
				b.bodies.Put(body)
			}
			b.inFlight.Add(int64(-n))
			rest = rest[n:]
		}
		clear(c) // let the items be collected
	}
	b.mu.Lock()
	for _, c := range w.chunks {
		if len(b.spare) < maxSpareChunks && cap(c) <= maxSpareChunkCap {
			b.spare = append(b.spare, c[:0])
		}
	}
	b.mu.Unlock()
	clear(w.chunks)
}

// deliver puts one batch in the destination's queue. A refused batch is counted dropped; a
// destination replaced by a reload meanwhile gets the batch instead.
func (b *batcher[T]) deliver(batch pipeline.Batch) {
	for range 3 {
		d := b.dest.load()
		err := d.Consume(context.Background(), batch)
		if err == nil {
			return
		}
		if errors.Is(err, sender.ErrStopped) && !b.dest.current(d) {
			continue
		}
		reason := selftel.ReasonQueueFull
		if errors.Is(err, sender.ErrStopped) {
			reason = selftel.ReasonShutdown
		}
		b.drop(batch.Items, reason)
		b.log.Warn("sending queue refused a batch: dropped", "signal", b.sig.String(), "items", batch.Items, "reason", reason, "error", err)
		return
	}
}

// forceFlush hands everything buffered to the queue.
func (b *batcher[T]) forceFlush(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case b.flush <- reply:
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown refuses new items (counted dropped, reason shutdown), hands the buffer to the
// queue and stops the worker. Idempotent.
func (b *batcher[T]) shutdown(ctx context.Context) error {
	b.mu.Lock()
	first := !b.closed
	b.closed = true
	b.mu.Unlock()
	if first {
		close(b.stop)
	}
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
