package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/queue"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// ErrQueueNotOpen is the cause of the Throttled error a disk queue refuses batches with while
// its directory is still held by another queue (the exporter it replaces during a reload).
var ErrQueueNotOpen = errors.New("sender: disk queue not open yet")

// Pauses of the disk queue's background work.
const (
	// reopenInterval is how often a locked queue directory is tried again.
	reopenInterval = 100 * time.Millisecond
	// readRetryDelay is the wait after a record could not be read (an I/O error).
	readRetryDelay = time.Second
)

// diskQueue runs a sender on the durable queue of internal/queue. Put writes through to disk;
// Done(true) acknowledges (the record leaves the queue), Done(false) gives the record back to
// be delivered again, first. Close only stops Puts and Gets: records in flight can still be
// settled until shutdown closes the files, and whatever is left stays on disk for the next
// start, so Discard returns nothing and Kept reports it.
type diskQueue struct {
	cfg          queue.Config
	blockTimeout time.Duration
	log          *slog.Logger
	metrics      *selftel.Metrics

	ready   chan struct{} // closed once q is set
	q       *queue.Queue  // written once, before ready is closed
	closing chan struct{} // closed by Close
	life    context.Context
	endLife context.CancelFunc // cancelled by Close, ends Gets
	stop    chan struct{}      // closed by shutdown, ends the opener
	wg      sync.WaitGroup     // the opener

	closeOnce sync.Once
	shutOnce  sync.Once
	items     atomic.Int64 // queued items, in flight included
	// waitingSince is when start found the directory locked (unix ns); 0 once open.
	waitingSince atomic.Int64
}

func newDiskQueue(cfg QueueConfig, log *slog.Logger, m *selftel.Metrics) *diskQueue {
	d := &diskQueue{
		cfg: cfg.diskConfig(), blockTimeout: cfg.BlockTimeout, log: log, metrics: m,
		ready: make(chan struct{}), closing: make(chan struct{}), stop: make(chan struct{}),
	}
	d.life, d.endLife = context.WithCancel(context.Background())
	return d
}

// start opens the queue. When another queue holds the directory (the exporter this one
// replaces has not shut down yet) it keeps trying in the background; Puts wait for it within
// block_timeout. Any other error is returned.
func (d *diskQueue) start() error {
	q, err := d.open()
	if err == nil {
		d.opened(q)
		return nil
	}
	if !errors.Is(err, queue.ErrLocked) {
		return fmt.Errorf("sending_queue.disk: %w", err)
	}
	d.log.Warn("disk queue directory in use (by the exporter being replaced?); waiting for it", "dir", d.cfg.Dir)
	d.waitingSince.Store(time.Now().UnixNano())
	d.wg.Go(d.openLater)
	return nil
}

func (d *diskQueue) open() (*queue.Queue, error) {
	return queue.Open(d.cfg.Dir, d.cfg, queue.Settings{Logger: d.log, OnDrop: d.dropped})
}

func (d *diskQueue) openLater() {
	t := time.NewTicker(reopenInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		q, err := d.open()
		if err == nil {
			d.opened(q)
			return
		}
		if !errors.Is(err, queue.ErrLocked) {
			d.log.Error("disk queue cannot be opened; batches are refused", "dir", d.cfg.Dir, "error", err)
		}
	}
}

func (d *diskQueue) opened(q *queue.Queue) {
	d.waitingSince.Store(0)
	st := q.Stats()
	d.items.Store(st.Items)
	d.q = q
	close(d.ready)
	if st.Records > 0 {
		d.log.Info("disk queue resumed: delivering what the last run left", "dir", d.cfg.Dir,
			"records", st.Records, "items", st.Items, "oldest_age", st.OldestAge.Round(time.Millisecond))
	}
}

// notOpenFor is how long the queue has been waiting for its locked directory; 0 when open.
func (d *diskQueue) notOpenFor(now time.Time) time.Duration {
	if t := d.waitingSince.Load(); t != 0 {
		return now.Sub(time.Unix(0, t))
	}
	return 0
}

// dropped counts a record the queue dropped (full policy, max_age, damaged on disk).
func (d *diskQueue) dropped(e queue.Drop) {
	d.items.Add(-int64(e.Items))
	reason := selftel.ReasonQueueFull
	switch e.Reason {
	case queue.DropMaxAge:
		reason = selftel.ReasonMaxAgeExpired
	case queue.DropCorrupt:
		reason = selftel.ReasonCorrupt
	}
	d.metrics.Dropped(e.Signal, reason, e.Items)
	d.log.Warn("disk queue dropped a batch", "reason", reason, "signal", e.Signal.String(), "items", e.Items)
}

// await returns the open queue, waiting for it until ctx ends or Close.
func (d *diskQueue) await(ctx context.Context) (*queue.Queue, error) {
	select {
	case <-d.ready:
		return d.q, nil
	default:
	}
	select {
	case <-d.ready:
		return d.q, nil
	case <-d.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, resilience.Throttled(fmt.Errorf("%w: %w", ErrQueueNotOpen, ctx.Err()), queueFullRetryAfter)
	}
}

// Put implements Queue: it waits for room up to block_timeout under the block policy.
func (d *diskQueue) Put(ctx context.Context, b pipeline.Batch) error {
	select {
	case <-d.closing:
		return ErrClosed
	default:
	}
	if d.blockTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.blockTimeout)
		defer cancel()
	} else {
		// The queue only uses ctx to bound waiting: a done ctx refuses at once when full.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		cancel()
	}
	q, err := d.await(ctx)
	if err != nil {
		return err
	}
	if err := q.Put(ctx, b); err != nil {
		if errors.Is(err, queue.ErrClosed) {
			return ErrClosed
		}
		return err
	}
	d.items.Add(int64(b.Items))
	return nil
}

// Get implements Queue. After Close it returns ErrClosed at once: the rest stays on disk.
func (d *diskQueue) Get(ctx context.Context) (Item, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(d.life, cancel)
	defer stop()
	q, err := d.await(ctx)
	if err != nil {
		return Item{}, d.getErr(ctx, err)
	}
	for {
		del, err := q.Get(ctx)
		if err == nil {
			return Item{Batch: del.Batch, Done: func(handled bool) { d.done(del, handled) }}, nil
		}
		if ctx.Err() != nil || errors.Is(err, queue.ErrClosed) {
			return Item{}, d.getErr(ctx, err)
		}
		// An I/O error reading a record back: it stays queued; try again shortly.
		d.log.Error("disk queue read failed; retrying", "error", err)
		t := time.NewTimer(readRetryDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Item{}, d.getErr(ctx, ctx.Err())
		}
	}
}

// getErr maps the end of a Get: ErrClosed after Close, else the caller's error.
func (d *diskQueue) getErr(ctx context.Context, err error) error {
	select {
	case <-d.closing:
		return ErrClosed
	default:
	}
	if errors.Is(err, queue.ErrClosed) {
		return ErrClosed
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (d *diskQueue) done(del queue.Delivery, handled bool) {
	n := del.Items
	var err error
	if handled {
		if err = del.Ack(); err == nil {
			d.items.Add(-int64(n))
		}
	} else {
		err = del.Nack()
	}
	if err != nil {
		// The queue is closing: the record is delivered again after the next start.
		d.log.Debug("disk queue: settle after close", "ack", handled, "error", err)
	}
}

// Close implements Queue: no more Puts, and Gets end.
func (d *diskQueue) Close() {
	d.closeOnce.Do(func() {
		close(d.closing)
		d.endLife()
	})
}

// Discard implements Queue: nothing is lost, everything left is kept on disk.
func (d *diskQueue) Discard() []pipeline.Batch { return nil }

// Kept implements Keeper.
func (d *diskQueue) Kept() int { return int(max(d.items.Load(), 0)) }

// Len implements Queue.
func (d *diskQueue) Len() int { return int(max(d.items.Load(), 0)) }

// Cap implements Queue: the disk queue is bounded in bytes, not items.
func (d *diskQueue) Cap() int { return 0 }

// stats reads the queue's state for the metrics collector.
func (d *diskQueue) stats() selftel.QueueStats {
	select {
	case <-d.ready:
	default:
		return selftel.QueueStats{}
	}
	st := d.q.Stats()
	return selftel.QueueStats{
		Records: st.Records, InFlight: st.InFlight, DiskBytes: st.DiskBytes, MemoryBytes: st.MemoryBytes,
		OldestAge: st.OldestAge, CorruptRecords: st.CorruptRecords,
	}
}

// writeFailure is why the queue's last write failed and since when; empty once one succeeds.
func (d *diskQueue) writeFailure() (string, time.Time) {
	select {
	case <-d.ready:
	default:
		return "", time.Time{}
	}
	st := d.q.Stats()
	if st.WriteError == nil {
		return "", time.Time{}
	}
	return st.WriteError.Error(), st.WriteFailingSince
}

// shutdown stops the opener and closes the files; call it once the workers have stopped.
func (d *diskQueue) shutdown() error {
	var err error
	d.shutOnce.Do(func() {
		d.Close()
		close(d.stop)
		d.wg.Wait()
		select {
		case <-d.ready:
			err = d.q.Close()
		default:
		}
	})
	return err
}
