//go:build chaos

package chaos

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// client sends requests 0..n-1, request i holding the spans numbered i*spansPer and up (span
// number k has testutil.SpanID(k)), over raw OTLP/gRPC, retrying each until the agent
// acknowledges it.
type client struct {
	conn     *grpc.ClientConn
	spansPer int
	acked    []atomic.Bool
	nAcked   atomic.Int64
	attempts atomic.Int64
	progress chan struct{} // kicked (non-blocking, buffered 1) on every acknowledgment
}

func newClient(addr string, requests, spansPer int) (*client, error) {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpcraw.Codec{})),
		// Reconnect quickly after the agent is killed and restarted.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		return nil, err
	}
	return &client{conn: conn, spansPer: spansPer, acked: make([]atomic.Bool, requests), progress: make(chan struct{}, 1)}, nil
}

func (c *client) close() { c.conn.Close() }

// run sends every request, rate per second from workers goroutines, and returns when all
// are acknowledged or ctx ends.
func (c *client) run(ctx context.Context, rate, workers int) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				c.send(ctx, i)
			}
		})
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
feed:
	for i := range c.acked {
		select {
		case <-ctx.Done():
			break feed
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			break feed
		case jobs <- i:
		}
	}
	close(jobs)
	wg.Wait()
}

// send retries request i with backoff until it is acknowledged or ctx ends.
func (c *client) send(ctx context.Context, i int) {
	body := testutil.TracesBatch(testutil.Traces(1, c.spansPer, i*c.spansPer)).Body
	wait := 50 * time.Millisecond
	for ctx.Err() == nil {
		c.attempts.Add(1)
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		var resp grpcraw.Frame
		err := c.conn.Invoke(actx, grpcraw.TracesMethod, &grpcraw.Frame{Body: body}, &resp)
		cancel()
		if err == nil {
			c.acked[i].Store(true)
			c.nAcked.Add(1)
			select {
			case c.progress <- struct{}{}:
			default:
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// waitAcked blocks until n requests are acknowledged or ctx ends.
func (c *client) waitAcked(ctx context.Context, n int) error {
	for c.nAcked.Load() < int64(n) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.progress:
		}
	}
	return nil
}
