package sender

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// BatchConfig is the [...sending_queue.batch] table: batching after the queue. Queued batches
// of one signal are merged into one export of at least MinSize items, waiting at most
// FlushTimeout for them, and never more than MaxSize items or MaxBytes.
//
// In front of a disk queue this is where batching belongs: a sender is acknowledged as soon as
// its request is on disk, and the export still carries large batches. (A batch processor in
// front of a disk queue must hold every sender until its batch is flushed, ack_after_flush,
// or acknowledge data that is only in memory.) Merging is a byte append: an OTLP export
// request is one repeated field, so concatenated requests are one valid request.
type BatchConfig struct {
	// Enabled merges queued batches; off, each queued batch is exported as it is.
	Enabled bool `toml:"enabled"`
	// MinSize is the item count (spans, data points, log records) that sends at once.
	MinSize int `toml:"min_size"`
	// MaxSize bounds the items of one export; 0: no bound. A queued batch larger than it is
	// sent alone, never split.
	MaxSize int `toml:"max_size"`
	// MaxBytes bounds the encoded size of one export; 0: no bound.
	MaxBytes int `toml:"max_bytes"`
	// FlushTimeout is how long a batch waits for MinSize once its first item was taken.
	FlushTimeout time.Duration `toml:"flush_timeout"`
}

// NewDefaultBatchConfig: off; when enabled, 8192 items or 200ms (the batch processor's
// defaults), at most 4 MiB per export (gRPC's default receive limit).
func NewDefaultBatchConfig() BatchConfig {
	return BatchConfig{MinSize: 8192, MaxBytes: 4 << 20, FlushTimeout: 200 * time.Millisecond}
}

// Validate reports the first invalid key, named relative to the table.
func (c BatchConfig) Validate() error {
	switch {
	case !c.Enabled:
		return nil
	case c.MinSize < 1:
		return fmt.Errorf("min_size: must be >= 1, got %d", c.MinSize)
	case c.MaxSize != 0 && c.MaxSize < c.MinSize:
		return fmt.Errorf("max_size: must be 0 or >= min_size (%d), got %d", c.MinSize, c.MaxSize)
	case c.MaxBytes < 0:
		return fmt.Errorf("max_bytes: must be >= 0, got %d", c.MaxBytes)
	case c.FlushTimeout < 0:
		return fmt.Errorf("flush_timeout: must be >= 0, got %s", c.FlushTimeout)
	}
	return nil
}

// coalescer is a Queue whose Get merges batches of the inner queue. One worker gathers at a
// time, so that batches fill up instead of being shared out among idle workers; the others
// wait for the gather lock, which costs nothing: they would have nothing to send anyway.
type coalescer struct {
	Queue
	cfg BatchConfig

	gather  chan struct{} // a one-slot lock that a waiting Get can give up on
	pending *Item         // guarded by gather; taken but did not fit the previous export
	bufs    sync.Pool     // *[]byte of merged bodies
}

func newCoalescer(q Queue, cfg BatchConfig) *coalescer {
	return &coalescer{Queue: q, cfg: cfg, gather: make(chan struct{}, 1)}
}

// Kept implements Keeper when the inner queue does.
type keepingCoalescer struct{ *coalescer }

func (k keepingCoalescer) Kept() int { return k.Queue.(Keeper).Kept() }

// Get returns one batch of the inner queue, or several merged. Items that the inner queue
// hands over are never lost here: an error of the inner queue while gathering ends the
// gathering, what was gathered is returned, and the error comes on the next call.
func (c *coalescer) Get(ctx context.Context) (Item, error) {
	select {
	case c.gather <- struct{}{}:
	case <-ctx.Done():
		return Item{}, ctx.Err()
	}
	defer func() { <-c.gather }()

	first, err := c.take(ctx)
	if err != nil {
		return Item{}, err
	}
	items, size := first.Batch.Items, len(first.Batch.Body)
	if c.full(items, size) {
		return first, nil
	}
	parts := []Item{first}
	wait, cancel := context.WithTimeout(ctx, c.cfg.FlushTimeout)
	defer cancel()
	for !c.full(items, size) {
		// A done wait context makes the inner Get a poll: what is already queued still comes.
		next, err := c.Queue.Get(wait)
		if err != nil {
			break
		}
		if next.Batch.Signal != first.Batch.Signal || !c.fits(items+next.Batch.Items, size+len(next.Batch.Body)) {
			c.pending = &next
			break
		}
		parts = append(parts, next)
		items += next.Batch.Items
		size += len(next.Batch.Body)
	}
	if len(parts) == 1 {
		return first, nil
	}
	return c.merge(parts, items, size), nil
}

// take returns the item left over by the previous gathering, or waits for one.
func (c *coalescer) take(ctx context.Context) (Item, error) {
	if c.pending != nil {
		it := *c.pending
		c.pending = nil
		return it, nil
	}
	return c.Queue.Get(ctx)
}

func (c *coalescer) full(items, size int) bool {
	return items >= c.cfg.MinSize || !c.fits(items+1, size+1)
}

func (c *coalescer) fits(items, size int) bool {
	return (c.cfg.MaxSize == 0 || items <= c.cfg.MaxSize) && (c.cfg.MaxBytes == 0 || size <= c.cfg.MaxBytes)
}

// merge concatenates the parts' bodies; settling the merged item settles every part, in
// reverse order so that parts given back keep their order at the head of the queue.
func (c *coalescer) merge(parts []Item, items, size int) Item {
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	body := (*bp)[:0]
	if cap(body) < size {
		body = make([]byte, 0, size)
	}
	for _, p := range parts {
		body = append(body, p.Batch.Body...)
	}
	b := pipeline.Batch{Signal: parts[0].Batch.Signal, Body: body, Items: items}
	return Item{Batch: b, Done: func(handled bool) {
		for i := len(parts) - 1; i >= 0; i-- {
			parts[i].Done(handled)
		}
		*bp = body[:0]
		c.bufs.Put(bp)
	}}
}

// Discard gives back the item held over from the last gathering (the workers have stopped)
// before the inner queue counts what it loses.
func (c *coalescer) Discard() []pipeline.Batch {
	if c.pending != nil {
		c.pending.Done(false)
		c.pending = nil
	}
	return c.Queue.Discard()
}
