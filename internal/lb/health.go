package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
)

var errProbeTimeout = errors.New("lb: health probe timed out")

// dialProbe is the default active check: the endpoint accepts a TCP connection.
func dialProbe(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// startActiveLocked starts e's active checker if active checks are on and the balancer runs.
func (b *Balancer) startActiveLocked(e *Endpoint) {
	if !b.cfg.Health.Active.Enabled || !b.started || b.stopped || e.stopActive != nil {
		return
	}
	ctx, cancel := context.WithCancel(b.runCtx)
	e.stopActive = cancel
	b.wg.Add(1)
	go b.runActive(ctx, e)
}

func (b *Balancer) stopActiveLocked(e *Endpoint) {
	if e.stopActive != nil {
		e.stopActive()
		e.stopActive = nil
	}
}

// runActive probes e every interval, marking it down after unhealthy_threshold consecutive
// failures and up after healthy_threshold consecutive successes. The first probe runs at once.
func (b *Balancer) runActive(ctx context.Context, e *Endpoint) {
	defer b.wg.Done()
	cfg := b.cfg.Health.Active
	var good, bad int
	for {
		err := b.probeOnce(ctx, e.addr)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			good, bad = good+1, 0
			if good >= cfg.HealthyThreshold && e.activeDown.CompareAndSwap(true, false) {
				b.log.Info("lb endpoint up", "endpoint", e.addr)
			}
		} else {
			good, bad = 0, bad+1
			if bad >= cfg.UnhealthyThreshold && e.activeDown.CompareAndSwap(false, true) {
				b.log.Warn("lb endpoint down", "endpoint", e.addr, "error", err)
			}
		}
		t := b.clock.NewTimer(cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// probeOnce runs the probe under active.timeout, timed on the balancer's clock.
func (b *Balancer) probeOnce(ctx context.Context, addr string) (err error) {
	pctx, cancel := context.WithCancelCause(ctx)
	t := b.clock.AfterFunc(b.cfg.Health.Active.Timeout, func() { cancel(errProbeTimeout) })
	defer func() {
		t.Stop()
		cancel(nil)
		if p := recover(); p != nil {
			err = fmt.Errorf("lb: health probe panicked: %v", p)
		}
	}()
	err = b.probe(pctx, addr)
	if err == nil && context.Cause(pctx) == errProbeTimeout {
		err = errProbeTimeout // an answer after the deadline is no answer
	}
	return err
}
