package lb

import (
	"context"
	"errors"
	"time"
)

// minRefreshGap rate-limits re-resolution, however often it is asked for.
const minRefreshGap = 500 * time.Millisecond

var errResolveTimeout = errors.New("lb: resolution timed out")

// Start resolves the endpoints once (an error is logged: the current set is kept and the
// source is tried again at its refresh interval) and starts re-resolution and active health
// checks in the background.
func (b *Balancer) Start(ctx context.Context) error {
	b.mu.Lock()
	if b.started || b.stopped {
		b.mu.Unlock()
		return errors.New("lb: already started")
	}
	b.started = true
	b.runCtx, b.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, e := range b.snap.Load().eps {
		b.startActiveLocked(e)
	}
	runCtx := b.runCtx
	b.mu.Unlock()

	if b.interval <= 0 {
		return nil // static
	}
	if w, ok := b.resolver.(Watcher); ok {
		// In place before the first read: a change after it is either read or reported.
		run, err := w.Watch(b.Refresh)
		if err != nil {
			b.log.Warn("lb endpoint watch failed; refreshing on the interval only", "error", err)
		} else {
			b.wg.Go(func() { run(runCtx) })
		}
	}
	b.refresh(ctx)
	b.wg.Add(1)
	go b.discover(runCtx)
	return nil
}

// Shutdown stops the background work and waits for it, or for ctx. It is idempotent and safe
// without Start. Do keeps working on the last endpoint set.
func (b *Balancer) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	b.stopped = true
	if b.cancel != nil {
		b.cancel()
	}
	for _, e := range b.snap.Load().eps {
		b.stopActiveLocked(e)
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Refresh asks for a re-resolution soon. It never blocks; requests made while one is pending
// are merged into it.
func (b *Balancer) Refresh() {
	select {
	case b.trigger <- struct{}{}:
	default:
	}
}

// discover re-resolves on every interval tick and every Refresh, at most once per
// minRefreshGap.
func (b *Balancer) discover(ctx context.Context) {
	defer b.wg.Done()
	for {
		t := b.clock.NewTimer(b.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-b.trigger:
			t.Stop()
		}
		b.refresh(ctx)
		gap := b.clock.NewTimer(minRefreshGap)
		select {
		case <-ctx.Done():
			gap.Stop()
			return
		case <-gap.C():
		}
	}
}

// refresh resolves the source and applies the result; failures keep the current set.
func (b *Balancer) refresh(ctx context.Context) {
	timeout := b.cfg.DNS.Timeout
	if timeout <= 0 {
		timeout = NewDefaultConfig().DNS.Timeout
	}
	rctx, cancel := context.WithCancelCause(ctx)
	t := b.clock.AfterFunc(timeout, func() { cancel(errResolveTimeout) })
	specs, err := b.resolver.Resolve(rctx)
	t.Stop()
	cancel(nil)
	if err == nil {
		err = b.Update(specs)
	}
	if err != nil && ctx.Err() == nil {
		b.log.Warn("lb endpoint resolution failed; keeping the current endpoints",
			"error", err, "endpoints", len(b.snap.Load().eps))
	}
}
