// Package batch groups OTLP requests into larger batches by item count, bytes and time.
//
// Batching is a byte append: an encoded Export*ServiceRequest is one repeated field, so two
// requests concatenated are one valid request. Only a request larger than the byte or item
// ceiling is cut (by otlpwire.Split, between resources, scopes and items).
package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/otlp-dev/otlp/internal/bufpool"
	"github.com/otlp-dev/otlp/internal/otlpwire"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// Config is the [processors.batch] section.
type Config struct {
	// SendBatchSize is the item count (spans, points, records) that sends a batch at once.
	SendBatchSize int `toml:"send_batch_size"`
	// SendBatchMaxSize caps the items of one batch; larger requests are split. 0: no cap.
	SendBatchMaxSize int `toml:"send_batch_max_size"`
	// MaxBytes caps the encoded size of one batch (keep it under the upstream's message limit).
	// 0: no cap.
	MaxBytes int `toml:"max_bytes"`
	// Timeout sends a non-empty batch this long after its first item arrived.
	Timeout time.Duration `toml:"timeout"`
	// MaxPending is how many full batches may wait for the exporters before senders are
	// pushed back.
	MaxPending int `toml:"max_pending"`
	// AckAfterFlush makes Consume return only once the batch holding the data was handed to
	// the exporters (with their answer), instead of as soon as it is appended. In front of a
	// disk queue this is what makes an acknowledgement mean "on disk": nothing acknowledged is
	// lost if the process is killed. Unset: on exactly when an exporter of the pipeline keeps a
	// disk queue (the server decides).
	AckAfterFlush *bool `toml:"ack_after_flush"`
}

// flushResult is shared by the requests of one batch when AckAfterFlush is on.
type flushResult struct {
	done chan struct{} // closed once the batch was handed on
	err  error         // written before done is closed
}

// pending is a full batch waiting for the flusher.
type pending struct {
	b   pipeline.Batch
	res *flushResult // nil unless AckAfterFlush
}

// NewDefaultConfig returns the defaults: 8192 items or 200ms, at most 3 MiB per batch.
func NewDefaultConfig() Config {
	return Config{SendBatchSize: 8192, MaxBytes: 3 << 20, Timeout: 200 * time.Millisecond, MaxPending: 2}
}

// Validate reports the first invalid key.
func (c Config) Validate() error {
	switch {
	case c.SendBatchSize <= 0:
		return fmt.Errorf("send_batch_size: must be > 0, got %d", c.SendBatchSize)
	case c.SendBatchMaxSize < 0:
		return fmt.Errorf("send_batch_max_size: must be >= 0, got %d", c.SendBatchMaxSize)
	case c.SendBatchMaxSize > 0 && c.SendBatchMaxSize < c.SendBatchSize:
		return fmt.Errorf("send_batch_max_size: must be 0 or >= send_batch_size (%d), got %d", c.SendBatchSize, c.SendBatchMaxSize)
	case c.MaxBytes < 0:
		return fmt.Errorf("max_bytes: must be >= 0, got %d", c.MaxBytes)
	case c.MaxBytes > 0 && c.MaxBytes < 1024:
		return fmt.Errorf("max_bytes: must be 0 or at least 1024, got %d", c.MaxBytes)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout: must be > 0, got %s", c.Timeout)
	case c.MaxPending <= 0:
		return fmt.Errorf("max_pending: must be > 0, got %d", c.MaxPending)
	}
	return nil
}

// Settings are injected by the server.
type Settings struct {
	Name    string // pipeline name, for metrics and logs
	Signal  pipeline.Signal
	Logger  *slog.Logger
	Metrics *selftel.Metrics
}

// ErrShuttingDown refuses data offered after Shutdown began; senders should retry elsewhere.
var ErrShuttingDown = errors.New("batch: shutting down")

// Processor accumulates batches and hands full ones to next from its own goroutine.
type Processor struct {
	cfg  Config
	set  Settings
	next pipeline.Consumer

	mu        sync.Mutex
	cur       []byte        // guarded by mu; the batch being filled
	curItems  int           // guarded by mu
	curStart  time.Time     // guarded by mu; when cur got its first item
	ready     []pending     // guarded by mu; full batches waiting for the flusher
	curRes    *flushResult  // guarded by mu; the current batch's result (AckAfterFlush)
	space     chan struct{} // guarded by mu; closed when ready shrinks
	closed    bool          // guarded by mu
	started   bool          // guarded by mu
	lastBytes int           // guarded by mu; size of the last batch handed on

	spare bufpool.FreeList // recycled batch buffers

	kick    chan struct{} // buffered 1: the flusher has something to look at
	stop    chan struct{} // closed by Shutdown
	done    chan struct{} // closed when the flusher returned
	runCtx  context.Context
	cancel  context.CancelFunc
	drainMu sync.Mutex // serialises Shutdown
}

// New returns a processor that sends to next.
func New(cfg Config, set Settings, next pipeline.Consumer) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	return &Processor{
		cfg: cfg, set: set, next: next,
		space: make(chan struct{}),
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		spare: bufpool.FreeList{MaxBuffers: cfg.MaxPending + 1},
	}, nil
}

// Start launches the flusher.
func (p *Processor) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return nil
	}
	p.started = true
	p.runCtx, p.cancel = context.WithCancel(context.Background())
	go p.flushLoop()
	return nil
}

// Consume appends b to the current batch. It waits (honouring ctx) while MaxPending full
// batches are already waiting for the exporters; data is accepted only once appended.
func (p *Processor) Consume(ctx context.Context, b pipeline.Batch) error {
	if b.Items == 0 || len(b.Body) == 0 {
		return nil
	}
	if p.tooBig(len(b.Body), b.Items) {
		return otlpwire.Split(b.Signal, b.Body, p.cfg.SendBatchMaxSize, p.cfg.MaxBytes, func(part []byte, items int) error {
			return p.add(ctx, part, items)
		})
	}
	return p.add(ctx, b.Body, b.Items)
}

func (p *Processor) tooBig(n, items int) bool {
	return (p.cfg.MaxBytes > 0 && n > p.cfg.MaxBytes) || (p.cfg.SendBatchMaxSize > 0 && items > p.cfg.SendBatchMaxSize)
}

func (p *Processor) add(ctx context.Context, body []byte, items int) error {
	p.mu.Lock()
	for len(p.ready) >= p.cfg.MaxPending && !p.closed {
		wait := p.space
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return resilience.Throttled(fmt.Errorf("batch %s: exporters are behind: %w", p.set.Name, ctx.Err()), time.Second)
		}
		p.mu.Lock()
	}
	if p.closed {
		p.mu.Unlock()
		return ErrShuttingDown
	}
	// Cut before appending when the request would push the batch over a ceiling.
	if p.curItems > 0 && p.tooBig(len(p.cur)+len(body), p.curItems+items) {
		p.detachLocked()
	}
	if p.curItems == 0 {
		p.curStart = time.Now()
		if p.cur == nil {
			p.cur = p.spare.Get(0)
		}
		if p.cur == nil {
			p.cur = make([]byte, 0, p.sizeHintLocked(len(body), items))
		}
		if p.ackAfterFlush() {
			p.curRes = &flushResult{done: make(chan struct{})}
		}
	}
	p.cur = append(p.cur, body...)
	p.curItems += items
	res := p.curRes
	first := p.curItems == items
	detached := p.curItems >= p.cfg.SendBatchSize
	if detached {
		p.detachLocked()
		first = true
	}
	p.mu.Unlock()
	if first {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	if detached {
		// Let the flusher, just woken, hand the batch on now: with a consumer that is done with
		// it at once (nop, a copying queue) the buffer is recycled before this goroutine takes
		// its next request. A late flusher made that request allocate a second batch buffer (a
		// megabyte at the defaults) that then stayed in circulation. A hint only: nothing
		// depends on the order, and it gives up after a few yields (the flusher may be busy
		// elsewhere, or held up by refusing exporters).
		for range 3 {
			runtime.Gosched()
			if !p.readyPending() {
				break
			}
		}
	}
	if res == nil {
		return nil
	}
	select {
	case <-res.done:
		return res.err
	case <-ctx.Done():
		// The data is in the batch and will be sent; the sender, told to retry, may send it
		// twice (at-least-once), never zero times.
		return resilience.Throttled(fmt.Errorf("batch %s: not yet handed to the exporters: %w", p.set.Name, ctx.Err()), time.Second)
	}
}

// readyPending reports whether a full batch still waits for the flusher.
func (p *Processor) readyPending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready) > 0
}

func (p *Processor) ackAfterFlush() bool { return p.cfg.AckAfterFlush != nil && *p.cfg.AckAfterFlush }

// detachLocked moves the current batch to the ready list.
func (p *Processor) detachLocked() {
	if p.curItems == 0 {
		return
	}
	p.ready = append(p.ready, pending{b: pipeline.Batch{Signal: p.set.Signal, Body: p.cur, Items: p.curItems}, res: p.curRes})
	p.lastBytes = len(p.cur)
	p.cur, p.curItems, p.curRes = nil, 0, nil
	p.set.Metrics.QueueSize("batch/"+p.set.Name, len(p.ready), p.cfg.MaxPending)
}

// sizeHintLocked is the capacity for a new batch buffer: the size of the last batch, or before
// there was one, what send_batch_size items of this request's size take (at most max_bytes).
// Growing by append from nothing makes a chain of ever larger copies instead, several MiB of
// garbage for a megabyte batch.
func (p *Processor) sizeHintLocked(n, items int) int {
	want := p.lastBytes
	if want == 0 && items > 0 {
		want = n / items * p.cfg.SendBatchSize
	}
	limit := p.cfg.MaxBytes
	if limit == 0 {
		limit = maxSizeHint
	}
	return max(min(want+want/8, limit), n)
}

// maxSizeHint caps the first buffer when max_bytes is 0 (no ceiling).
const maxSizeHint = 4 << 20

// next returns the next batch to send: a full one, or the current one once its timeout passed.
// wait is how long until the current batch times out (0 when nothing is pending).
func (p *Processor) nextBatch(force bool) (b pending, trigger string, wait time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ready) > 0 {
		b = p.ready[0]
		p.ready[0] = pending{}
		p.ready = p.ready[1:]
		close(p.space)
		p.space = make(chan struct{})
		p.set.Metrics.QueueSize("batch/"+p.set.Name, len(p.ready), p.cfg.MaxPending)
		return b, "size", 0, true
	}
	if p.curItems == 0 {
		return b, "", 0, false
	}
	if age := time.Since(p.curStart); !force && age < p.cfg.Timeout {
		return b, "", p.cfg.Timeout - age, false
	}
	b = pending{b: pipeline.Batch{Signal: p.set.Signal, Body: p.cur, Items: p.curItems}, res: p.curRes}
	p.lastBytes = len(p.cur)
	p.cur, p.curItems, p.curRes = nil, 0, nil
	return b, "timeout", 0, true
}

func (p *Processor) recycle(buf []byte) {
	p.mu.Lock()
	// A buffer far larger than the batches now being sent (the first guess, or a burst) is
	// left to the GC instead of being held.
	keep := cap(buf) <= 2*p.lastBytes+64<<10
	p.mu.Unlock()
	if keep {
		p.spare.Put(buf)
	}
}

func (p *Processor) flushLoop() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b, trigger, wait, ok := p.nextBatch(false)
		if ok {
			p.send(p.runCtx, b, trigger)
			continue
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-p.kick:
		case <-timer.C:
		case <-p.stop:
			timer.Stop()
			return
		}
		timer.Stop()
	}
}

// send delivers b, retrying refusals until the exporters take it or the context ends; what
// cannot be delivered is counted as dropped.
func (p *Processor) send(ctx context.Context, pb pending, trigger string) {
	b := pb.b
	// An exporter queue may take the buffer instead of copying it; it then comes back
	// through recycle when that queue is done with it.
	owner := pipeline.NewOwner(b.Body, p.recycle)
	b.Owner = owner
	err := pipeline.Deliver(ctx, p.next, b)
	if pb.res != nil {
		pb.res.err = err
		close(pb.res.done)
	}
	p.set.Metrics.BatchSent(p.set.Name, trigger)
	if err != nil {
		reason := selftel.ReasonExportFailed
		if ctx.Err() != nil {
			reason = selftel.ReasonShutdown
		}
		// Exporters count their own permanent failures; count here only what never reached them
		// and was acknowledged (with AckAfterFlush the senders got the error and keep the data).
		if !resilience.IsPermanent(err) && pb.res == nil {
			p.set.Metrics.Dropped(p.set.Signal, reason, b.Items)
		}
		p.set.Logger.Error("batch not delivered", "pipeline", p.set.Name, "items", b.Items, "reason", reason, "error", err)
	}
	if !owner.Taken() {
		p.recycle(b.Body)
	}
}

// Shutdown refuses new data, sends everything accepted (honouring ctx's deadline; what is left
// when it passes is counted as dropped) and stops the flusher. Idempotent.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.drainMu.Lock()
	defer p.drainMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	started := p.started
	close(p.space) // wake blocked senders; they see closed
	p.space = make(chan struct{})
	p.mu.Unlock()
	if !started {
		return nil
	}
	// A flusher stuck on refusing exporters gives up when the shutdown deadline passes.
	stopAfter := context.AfterFunc(ctx, p.cancel)
	defer stopAfter()
	defer p.cancel()
	close(p.stop)
	<-p.done
	for {
		b, trigger, _, ok := p.nextBatch(true)
		if !ok {
			return nil
		}
		if trigger == "timeout" {
			trigger = "shutdown"
		}
		p.send(ctx, b, trigger)
	}
}
