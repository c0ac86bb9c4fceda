package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/otlp-dev/otlp/resilience"
)

// Fanout delivers every batch to each of its consumers in turn.
//
// A consumer that refuses a batch with a retryable error (a full queue, say) is retried, alone,
// until it accepts or ctx ends, so that consumers which already accepted the batch do not get it
// twice. A permanent error from one consumer does not stop delivery to the others; the errors
// are joined.
type Fanout []Consumer

// Consume implements Consumer.
func (f Fanout) Consume(ctx context.Context, b Batch) error {
	if len(f) == 1 {
		return Deliver(ctx, f[0], b)
	}
	// Several consumers read the same Body; none may take it.
	b.Owner = nil
	var errs []error
	for _, c := range f {
		if err := Deliver(ctx, c, b); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Deliver hands b to c, retrying retryable refusals with capped exponential backoff (at least
// the delay a Throttled error asks for) until c accepts, the error is permanent, or ctx ends.
// On ctx's end it returns the last refusal joined with ctx's error.
func Deliver(ctx context.Context, c Consumer, b Batch) error {
	backoff := 5 * time.Millisecond
	for {
		err := c.Consume(ctx, b)
		if err == nil || resilience.IsPermanent(err) {
			return err
		}
		wait := backoff
		if d, ok := resilience.RetryAfter(err); ok && d > wait {
			wait = d
		}
		if backoff < time.Second {
			backoff *= 2
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}
