// Package sender is the sending path shared by the network exporters: a bounded queue, workers,
// retries with exponential backoff and jitter, a per-attempt timeout, delivery accounting and
// a health view.
//
// Every batch handed to a Sender ends in exactly one counter: exported, dropped with reason
// export_failed (permanent error, retries exhausted), queue_full (drop_oldest policy) or
// shutdown (still queued when Shutdown's deadline passed). With the queue disabled, a
// retryable failure is returned to the caller, who still owns the batch.
//
// With a durable queue (sending_queue.storage = "disk", or any Keeper) a batch stays queued
// until it is delivered: when its retries run out it goes back to the queue instead of being
// dropped, and what is left at shutdown is kept on disk (otlp_queue_kept_items), neither
// exported nor dropped, and delivered after the next start. Only a permanent error, the full
// policy drop_oldest, the queue's max_age or damage found on disk drop it, counted.
package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// Consumer makes one delivery attempt of a batch. Errors are classified with the resilience
// package; a *PartialSuccess error means delivered except for the items it names.
type Consumer interface {
	Consume(ctx context.Context, b pipeline.Batch) error
}

// PartialSuccess reports that the destination accepted a batch except Rejected items, refused
// for good (OTLP partial_success). The sender counts the batch delivered and those items
// dropped, and does not retry.
type PartialSuccess struct {
	Rejected int
	Message  string
}

func (e *PartialSuccess) Error() string {
	return fmt.Sprintf("partial success: %d items rejected: %s", e.Rejected, e.Message)
}

// ErrStopped refuses batches offered after Shutdown.
var ErrStopped = errors.New("sender: stopped")

// Settings are injected by the exporter.
type Settings struct {
	// Name is the exporter's name ("otlp/upstream"), for metrics and logs.
	Name    string
	Logger  *slog.Logger
	Metrics *selftel.Metrics
	// Queue replaces the memory queue (for example with a durable one); used only when the
	// queue is enabled.
	Queue Queue
	// UnhealthyAfter is how long every attempt must have failed before Healthy reports false
	// (default 30s).
	UnhealthyAfter time.Duration
}

// Keeper is implemented by a durable queue: one whose contents survive Shutdown and a
// restart. A sender on a Keeper gives a batch whose retries ran out back to the queue
// (Item.Done(false)) instead of dropping it, stops retrying as soon as Shutdown begins (what is
// in flight finishes, the rest stays queued), and reports Kept at shutdown instead of counting
// anything dropped. Its Get may return ErrClosed right after Close without draining.
type Keeper interface {
	Queue
	// Kept returns the items the queue holds for the next start.
	Kept() int
}

// Sender delivers batches to a Consumer.
type Sender struct {
	next    Consumer
	cfg     Config
	set     Settings
	log     *slog.Logger
	queue   Queue             // nil when the queue is disabled
	keeper  Keeper            // queue, when it is durable
	disk    *diskQueue        // the durable queue the sender opened itself (storage = "disk")
	retry   *resilience.Retry // nil when retries are disabled
	timeout *resilience.Timeout
	health  health
	diag    diagnosis

	mu      sync.Mutex
	started bool   // guarded by mu
	untrack func() // guarded by mu; ends the disk queue's metrics
	stopped atomic.Bool
	// refusing is set when the queue refused a batch for want of room and cleared by the next
	// batch it takes: /ready tells "buffering" from "cannot accept".
	refusing atomic.Bool

	runCtx context.Context
	cancel context.CancelFunc
	// retryCtx bounds waiting between attempts: runCtx, or with a Keeper a context that
	// Shutdown cancels at once, since an undelivered batch is kept anyway.
	retryCtx    context.Context
	cancelRetry context.CancelFunc
	wg          sync.WaitGroup // the workers
}

// New returns a sender to next. It validates cfg.
func New(next Consumer, cfg Config, set Settings) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.UnhealthyAfter <= 0 {
		set.UnhealthyAfter = 30 * time.Second
	}
	s := &Sender{next: next, cfg: cfg, set: set, log: set.Logger,
		timeout: resilience.NewTimeout(cfg.Timeout, resilience.WithName(set.Name))}
	s.health.after = set.UnhealthyAfter
	s.diag.log = set.Logger
	if cfg.Queue.Enabled {
		s.queue = set.Queue
		switch {
		case s.queue != nil:
		case cfg.Queue.Durable():
			s.disk = newDiskQueue(cfg.Queue, set.Logger, set.Metrics)
			s.queue = s.disk
		default:
			s.queue = NewMemoryQueue(cfg.Queue, s.droppedOldest)
		}
		if cfg.Queue.Batch.Enabled {
			c := newCoalescer(s.queue, cfg.Queue.Batch)
			if _, ok := s.queue.(Keeper); ok {
				s.queue = keepingCoalescer{c}
			} else {
				s.queue = c
			}
		}
		s.keeper, _ = s.queue.(Keeper)
	}
	if cfg.Retry.Enabled {
		rc := cfg.Retry
		if s.disk != nil {
			rc = diskRetry(rc, cfg.Queue.Disk.MaxAge)
		}
		r, err := resilience.NewRetry(retryPolicy(rc),
			resilience.WithName(set.Name), resilience.WithObserver(resilience.ObserverFunc(s.observeRetry)))
		if err != nil {
			return nil, err
		}
		s.retry = r
	}
	s.runCtx, s.cancel = context.WithCancel(context.Background())
	s.retryCtx, s.cancelRetry = s.runCtx, func() {}
	if s.keeper != nil {
		s.retryCtx, s.cancelRetry = context.WithCancel(s.runCtx)
	}
	set.Metrics.ExporterSeries(set.Name) // at 0 until the first export
	s.gauge()
	return s, nil
}

// diskRetry bounds retries with a disk queue: data must not be deleted because a retry
// deadline passed, so without a max_age a batch is retried until it is delivered or shutdown
// keeps it; with one, a round of retries lasts at most max_age and then the batch goes back to
// the queue, which drops it (counted, reason max_age) once it is older than max_age.
func diskRetry(c RetryConfig, maxAge time.Duration) RetryConfig {
	if maxAge <= 0 {
		c.MaxElapsedTime, c.MaxAttempts = 0, 0
		return c
	}
	if c.MaxElapsedTime <= 0 || c.MaxElapsedTime > maxAge {
		c.MaxElapsedTime = maxAge
	}
	return c
}

// retryPolicy maps the exporter's retry table onto the resilience policy: no retry budget
// (the queue bounds the work), and with neither bound set, retry until shutdown.
func retryPolicy(c RetryConfig) resilience.RetryConfig {
	rc := resilience.RetryConfig{
		MaxAttempts: c.MaxAttempts, MaxElapsed: c.MaxElapsedTime,
		BaseDelay: c.InitialInterval, MaxDelay: c.MaxInterval,
		Multiplier: c.Multiplier, Jitter: c.RandomizationFactor,
	}
	if rc.MaxAttempts == 0 && rc.MaxElapsed == 0 {
		rc.MaxAttempts = math.MaxInt
	}
	return rc
}

// Start opens the disk queue, if any, and launches the workers.
func (s *Sender) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped.Load() {
		return nil
	}
	if s.disk != nil {
		if err := s.disk.start(); err != nil {
			return fmt.Errorf("sender %s: %w", s.set.Name, err)
		}
		s.untrack = s.set.Metrics.TrackQueue(s.set.Name, s.disk.stats)
	}
	s.started = true
	if s.queue == nil {
		return nil
	}
	s.gauge()
	for range s.cfg.Queue.NumConsumers {
		s.wg.Go(s.work)
	}
	return nil
}

// Consume queues b, or delivers it on the caller's goroutine when the queue is disabled.
func (s *Sender) Consume(ctx context.Context, b pipeline.Batch) error {
	if s.queue == nil {
		if s.stopped.Load() {
			return ErrStopped
		}
		return s.deliverSync(ctx, b)
	}
	err := s.queue.Put(ctx, b)
	s.gauge()
	if errors.Is(err, ErrClosed) {
		return ErrStopped
	}
	if err != nil {
		s.refusing.Store(true)
		s.log.Debug("queue full: batch refused", "signal", b.Signal.String(), "items", b.Items, "error", err)
	} else if s.refusing.Load() {
		s.refusing.Store(false)
	}
	return err
}

// Shutdown stops accepting batches, lets the workers drain the queue until ctx ends, then
// cancels what is in flight and counts what is left as dropped (reason shutdown). With a
// durable queue the workers only finish the attempts in flight: nothing is dropped, what is
// left is kept for the next start.
func (s *Sender) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := s.stopped.CompareAndSwap(false, true)
	untrack := s.untrack
	s.mu.Unlock()
	if !first {
		return nil
	}
	defer s.cancel()
	if s.queue == nil {
		return nil
	}
	s.queue.Close()
	s.cancelRetry()
	drained := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		s.cancel()
		<-drained
		err = ctx.Err()
	}
	lost := map[pipeline.Signal]int{}
	for _, b := range s.queue.Discard() {
		s.set.Metrics.Dropped(b.Signal, selftel.ReasonShutdown, b.Items)
		lost[b.Signal] += b.Items
	}
	s.gauge()
	for sig, n := range lost {
		s.log.Warn("shutdown: dropped queued items not delivered in time", "signal", sig.String(), "items", n)
	}
	if s.keeper != nil {
		kept := s.keeper.Kept()
		s.set.Metrics.Kept(s.set.Name, kept)
		if kept > 0 {
			s.log.Info("shutdown: undelivered items kept on disk, delivered after the next start", "items", kept)
		}
	}
	if untrack != nil {
		untrack()
	}
	if s.disk != nil {
		if cerr := s.disk.shutdown(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("disk queue: %w", cerr))
		}
	}
	if err != nil {
		return fmt.Errorf("sender %s: drain: %w", s.set.Name, err)
	}
	return nil
}

// work delivers queued batches until the queue is closed and empty or the sender is cancelled.
func (s *Sender) work() {
	for {
		it, err := s.queue.Get(s.runCtx)
		if err != nil {
			return
		}
		s.gauge()
		err = s.attempts(s.retryCtx, s.runCtx, it.Batch)
		if err != nil && s.retryCtx.Err() != nil {
			// Interrupted by shutdown: the queue decides whether the batch is lost.
			it.Done(false)
			return
		}
		if err != nil && s.keeper != nil && s.retry != nil && !resilience.IsPermanent(err) {
			// A durable queue keeps it: back to the head of the queue, tried again after a pause.
			it.Done(false)
			// The cause is logged at WARN by the diagnosis, once and not per batch.
			s.log.Debug("export failed: batch returned to the queue", "signal", it.Batch.Signal.String(),
				"items", it.Batch.Items, "error", err)
			if !s.pause(err) {
				return
			}
			continue
		}
		if err != nil {
			s.fail(it.Batch, err)
		}
		it.Done(true)
		s.gauge() // a durable queue counts a record until it is acknowledged
	}
}

// pause waits before a batch given back to a durable queue is tried again, so that a worker
// does not spin on it; false when shutdown began.
func (s *Sender) pause(err error) bool {
	d, ok := resilience.RetryAfter(err)
	if !ok || d <= 0 {
		d = s.cfg.Retry.InitialInterval
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.retryCtx.Done():
		return false
	}
}

// deliverSync is Consume without a queue: permanent failures are counted dropped, retryable
// ones are returned to the caller, who keeps the batch.
func (s *Sender) deliverSync(ctx context.Context, b pipeline.Batch) error {
	err := s.attempts(ctx, ctx, b)
	if err != nil && resilience.IsPermanent(err) {
		s.fail(b, err)
	}
	return err
}

// attempts runs the retry policy over single attempts and counts a success. waitCtx bounds
// the retries, callCtx each attempt: with a durable queue, shutdown stops retrying at once
// but lets an attempt in flight finish.
func (s *Sender) attempts(waitCtx, callCtx context.Context, b pipeline.Batch) error {
	var partial *PartialSuccess
	once := func(context.Context) error {
		err := s.timeout.Execute(callCtx, func(ctx context.Context) error { return s.next.Consume(ctx, b) })
		if errors.As(err, &partial) {
			err = nil
		}
		s.health.record(callCtx, err)
		if err == nil || callCtx.Err() == nil {
			s.diag.observe(err, s.QueueLen)
		}
		return err
	}
	var err error
	if s.retry != nil {
		err = s.retry.Execute(waitCtx, once)
	} else {
		err = once(waitCtx)
	}
	if err != nil {
		return err
	}
	exported := b.Items
	if partial != nil {
		rejected := min(max(partial.Rejected, 0), b.Items)
		exported -= rejected
		s.set.Metrics.Dropped(b.Signal, selftel.ReasonExportFailed, rejected)
		s.log.Warn("destination rejected part of a batch (partial success)", "signal", b.Signal.String(),
			"rejected", rejected, "items", b.Items, "message", partial.Message)
	}
	s.set.Metrics.Exported(b.Signal, s.set.Name, exported)
	return nil
}

// fail counts a batch that will never be delivered.
func (s *Sender) fail(b pipeline.Batch, err error) {
	s.set.Metrics.Dropped(b.Signal, selftel.ReasonExportFailed, b.Items)
	reason := "retries exhausted"
	if resilience.IsPermanent(err) {
		reason = "permanent error"
	}
	s.log.Error("export failed: batch dropped", "signal", b.Signal.String(), "items", b.Items,
		"reason", reason, "error", err)
}

func (s *Sender) droppedOldest(b pipeline.Batch) {
	s.set.Metrics.Dropped(b.Signal, selftel.ReasonQueueFull, b.Items)
	s.log.Warn("queue full: dropped the oldest batch", "signal", b.Signal.String(), "items", b.Items)
}

func (s *Sender) observeRetry(e resilience.Event) {
	if e.Kind == resilience.EventRetry {
		s.set.Metrics.Retry(s.set.Name)
		s.log.Debug("export attempt failed, retrying", "attempt", e.Attempt, "delay", e.Delay, "error", e.Err)
	}
}

func (s *Sender) gauge() {
	if s.queue != nil {
		s.set.Metrics.QueueSize("exporter/"+s.set.Name, s.queue.Len(), s.queue.Cap())
	}
}

// QueueLen returns the queued items (0 without a queue).
func (s *Sender) QueueLen() int {
	if s.queue == nil {
		return 0
	}
	return s.queue.Len()
}

// Healthy is false once every attempt has failed for UnhealthyAfter, and at once when the last
// attempt failed with a configuration error (wrong endpoint, credentials or compression:
// waiting will not fix it). Permanent errors do not count: the destination answered.
func (s *Sender) Healthy() bool { return s.health.healthy() }

// Status is the health view of a sender for /ready and the console.
type Status struct {
	Healthy bool
	// FailingSince is when the current run of failed attempts began (zero when the last
	// attempt succeeded).
	FailingSince time.Time
	// LastError and LastErrorTime describe the most recent failed attempt.
	LastError     string
	LastErrorTime time.Time
	// Durable is true with a disk queue: while it has room, data is accepted and kept even
	// when no attempt succeeds.
	Durable bool
	// Refusing is true when the queue turned the last batch away for want of room (block
	// policy): the exporter cannot accept data.
	Refusing bool
	// Queued is the items in the queue, being sent included.
	Queued int
	// LockedFor is how long the disk queue has been waiting for its directory, held by another
	// process or by the exporter it replaces (0 when open): it accepts nothing meanwhile.
	LockedFor time.Duration
	// WriteError is why the disk queue could not write the last batch it was given (its file
	// system full, say), since WriteFailingSince; empty once a write succeeds.
	WriteError        string
	WriteFailingSince time.Time
}

// Status returns the health view.
func (s *Sender) Status() Status {
	st := s.health.status()
	st.Durable, st.Refusing, st.Queued = s.keeper != nil, s.refusing.Load(), s.QueueLen()
	if s.disk != nil {
		st.LockedFor = s.disk.notOpenFor(time.Now())
		st.WriteError, st.WriteFailingSince = s.disk.writeFailure()
	}
	return st
}

// health follows the outcome of attempts.
type health struct {
	after time.Duration

	mu           sync.Mutex
	failingSince time.Time // guarded by mu
	configErr    bool      // guarded by mu; the last attempt failed with a configuration error
	lastErr      string    // guarded by mu
	lastErrAt    time.Time // guarded by mu
}

// record notes an attempt's outcome; ctx is the caller's, not the attempt's.
func (h *health) record(ctx context.Context, err error) {
	if err != nil && ctx.Err() != nil {
		return // our own cancellation says nothing about the destination
	}
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.configErr = err != nil && !resilience.IsPermanent(err) && resilience.KindOf(err) == resilience.KindConfiguration
	if err == nil || resilience.IsPermanent(err) {
		h.failingSince = time.Time{}
		if err == nil {
			return
		}
	} else if h.failingSince.IsZero() {
		h.failingSince = now
	}
	h.lastErr, h.lastErrAt = err.Error(), now
	if fix := resilience.SuggestionOf(err); fix != "" {
		h.lastErr += " (" + fix + ")"
	}
}

func (h *health) healthy() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.healthyLocked()
}

func (h *health) healthyLocked() bool {
	return h.failingSince.IsZero() || !h.configErr && time.Since(h.failingSince) < h.after
}

func (h *health) status() Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Status{
		Healthy:      h.healthyLocked(),
		FailingSince: h.failingSince, LastError: h.lastErr, LastErrorTime: h.lastErrAt,
	}
}
