// Package otlpgrpc exports batches to an OTLP/gRPC endpoint, or balances them across several
// (internal/exporter/balance), one connection each. Requests travel as the raw protobuf bytes
// they arrived in (grpcraw codec): nothing is re-encoded on the way out.
package otlpgrpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otlp-dev/otlp/internal/exporter/balance"
	"github.com/otlp-dev/otlp/internal/exporter/otlpmsg"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// Settings are injected by the server.
type Settings struct {
	Name    string // e.g. "otlp/upstream"
	Logger  *slog.Logger
	Metrics *selftel.Metrics
	// Queue, when set, replaces the memory queue (a durable queue); used only when
	// sending_queue is enabled.
	Queue sender.Queue
	// Balancer is handed to the load balancer with several endpoints (a clock, a DNS or
	// endpoint resolver, a probe: mostly for tests).
	Balancer lb.Settings
}

// ErrNotStarted refuses attempts before Start (retryable: the exporter is coming up).
var ErrNotStarted = errors.New("otlpgrpc: not started")

// Exporter sends batches through its sender (queue, retries) to the endpoint, or through a
// balancer to one of several.
type Exporter struct {
	cfg    Config
	log    *slog.Logger
	client *client         // one endpoint
	router *balance.Router // several endpoints
	sender *sender.Sender

	mu       sync.Mutex
	started  bool // guarded by mu
	shutdown bool // guarded by mu
}

// New validates cfg and loads the TLS files; Start connects.
func New(cfg Config, set Settings) (*Exporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	tlsOpts, err := dialOptions(cfg, false)
	if err != nil {
		return nil, err
	}
	plainOpts, _ := dialOptions(cfg, true) // loads no TLS files: cannot fail
	plaintext := cfg.plaintext()
	optsFor := func(addr string) []grpc.DialOption {
		if pt, ok := plaintext[addr]; ok && pt || !ok && cfg.TLS.Insecure {
			return plainOpts
		}
		return tlsOpts
	}
	var headers []string
	for _, k := range cfg.Headers.Keys() {
		headers = append(headers, k, cfg.Headers[k])
	}
	e := &Exporter{cfg: cfg, log: set.Logger}
	var next sender.Consumer
	if cfg.Balanced() {
		dial := func(addr string) (balance.Client, error) {
			c := &client{endpoint: addr, dialOpts: optsFor(addr), headers: headers, log: set.Logger}
			if err := c.connect(cfg.Compression); err != nil {
				return nil, err
			}
			return c, nil
		}
		e.router, err = balance.New(cfg.BalancerConfig(), balance.Settings{Name: set.Name, Logger: set.Logger,
			Metrics: set.Metrics, Dial: dial, LB: set.Balancer})
		if err != nil {
			return nil, fmt.Errorf("balancer.%w", err)
		}
		next = e.router
	} else {
		addr, _ := cfg.Target(cfg.Endpoint)
		e.client = &client{endpoint: addr, dialOpts: optsFor(addr), headers: headers, log: set.Logger}
		next = e.client
	}
	e.sender, err = sender.New(next, sender.Config{Queue: cfg.Queue, Retry: cfg.Retry, Timeout: cfg.Timeout},
		sender.Settings{Name: set.Name, Logger: set.Logger, Metrics: set.Metrics, Queue: set.Queue, UnhealthyAfter: cfg.UnhealthyAfter})
	if err != nil {
		if e.router != nil {
			_ = e.router.Shutdown(context.Background())
		}
		return nil, err
	}
	return e, nil
}

// dialOptions are the connection options, plaintext or with cfg's TLS.
func dialOptions(cfg Config, plaintext bool) ([]grpc.DialOption, error) {
	creds := insecure.NewCredentials()
	if !plaintext {
		t := cfg.TLS
		t.Insecure = false
		tlsCfg, err := t.Load()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tlsCfg)
	}
	callOpts := []grpc.CallOption{grpc.ForceCodecV2(grpcraw.Codec{}), grpc.WaitForReady(cfg.WaitForReady)}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(callOpts...),
		grpc.WithUserAgent("otlp-exporter"),
		// Batches are large: write them in few syscalls, and let the window cover a batch.
		grpc.WithWriteBufferSize(256 << 10),
		experimental.WithBufferPool(grpcraw.NewBufferPool()), // no zeroing of recycled buffers
		grpc.WithInitialWindowSize(1 << 20),
		grpc.WithInitialConnWindowSize(4 << 20),
		// gRPC's default reconnect backoff grows to 120s: a collector back after an outage
		// would wait minutes for traffic while data queues up. Cap it at a few seconds.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	if cfg.Keepalive.Time > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: cfg.Keepalive.Time, Timeout: cfg.Keepalive.Timeout, PermitWithoutStream: cfg.Keepalive.PermitWithoutStream,
		}))
	}
	return opts, nil
}

// Start creates the connection (lazily dialled by the first request), or starts the balancer
// (endpoint discovery, health checks), and the workers.
func (e *Exporter) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.shutdown {
		return nil
	}
	if e.router != nil {
		if err := e.router.Start(ctx); err != nil {
			return err
		}
	} else if err := e.client.connect(e.cfg.Compression); err != nil {
		return err
	}
	e.started = true
	e.log.Info("otlp exporter started", "endpoint", e.cfg.Endpoint, "endpoints", e.endpointNames(),
		"policy", e.policy(), "tls", e.tlsState(), "compression", e.cfg.Compression, "headers", e.cfg.Headers,
		"queue", e.cfg.Queue.Enabled, "storage", e.cfg.Queue.Storage)
	return e.sender.Start(ctx)
}

// tlsState is "on", "off", or "mixed" when endpoints differ.
func (e *Exporter) tlsState() string {
	// Addresses found by the balancer's DNS or file source follow tls.insecure.
	on, off := !e.cfg.TLS.Insecure, e.cfg.TLS.Insecure
	if pts := e.cfg.plaintext(); len(pts) > 0 {
		on, off = false, false
		for _, pt := range pts {
			on, off = on || !pt, off || pt
		}
	}
	switch {
	case on && off:
		return "mixed"
	case on:
		return "on"
	}
	return "off"
}

func (e *Exporter) endpointNames() []string {
	if e.router == nil {
		return nil
	}
	var names []string
	for _, ep := range e.router.Endpoints() {
		names = append(names, ep.Address)
	}
	return names
}

func (e *Exporter) policy() string {
	if e.router == nil {
		return ""
	}
	return e.cfg.Balancer.Policy
}

// Shutdown drains the queue within ctx's deadline (a disk queue keeps what is left), then
// closes the connections. Idempotent.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.shutdown {
		e.mu.Unlock()
		return nil
	}
	e.shutdown = true
	e.mu.Unlock()
	// Start cannot run any more.
	err := e.sender.Shutdown(ctx)
	if e.router != nil {
		return errors.Join(err, e.router.Shutdown(ctx))
	}
	return errors.Join(err, e.client.Close())
}

// Endpoints reports the balanced endpoints' state (nil with a single endpoint).
func (e *Exporter) Endpoints() []lb.EndpointStatus {
	if e.router == nil {
		return nil
	}
	return e.router.Endpoints()
}

// Consume hands b to the sender.
func (e *Exporter) Consume(ctx context.Context, b pipeline.Batch) error {
	return e.sender.Consume(ctx, b)
}

// Healthy is false once every attempt has failed for a while.
func (e *Exporter) Healthy() bool { return e.sender.Healthy() }

// QueueLen returns the items queued, being sent included.
func (e *Exporter) QueueLen() int { return e.sender.QueueLen() }

// Status is the sender's health view.
func (e *Exporter) Status() sender.Status { return e.sender.Status() }

// client makes single attempts to one endpoint.
type client struct {
	endpoint string
	dialOpts []grpc.DialOption
	headers  []string // key, value, …
	log      *slog.Logger
	conn     atomic.Pointer[grpc.ClientConn]
	release  func() // frees the compressor once the connection is closed; set by connect
}

// connect creates the connection (dialled lazily by the first request) with its own
// compressor.
func (c *client) connect(comp string) error {
	compOpts, release, err := compression(comp)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(c.endpoint, append(slices.Clip(c.dialOpts), compOpts...)...)
	if err != nil {
		release()
		return fmt.Errorf("otlpgrpc: endpoint %s: %w", c.endpoint, err)
	}
	c.release = release
	c.conn.Store(conn)
	return nil
}

// Close closes the connection; attempts then fail with ErrNotStarted.
func (c *client) Close() error {
	conn := c.conn.Swap(nil)
	if conn == nil {
		return nil
	}
	err := conn.Close()
	c.release()
	return err
}

func method(sig pipeline.Signal) string {
	switch sig {
	case pipeline.SignalTraces:
		return grpcraw.TracesMethod
	case pipeline.SignalMetrics:
		return grpcraw.MetricsMethod
	case pipeline.SignalLogs:
		return grpcraw.LogsMethod
	}
	return ""
}

// Consume sends b once and reads the partial success of the answer.
func (c *client) Consume(ctx context.Context, b pipeline.Batch) error {
	conn := c.conn.Load()
	if conn == nil {
		return ErrNotStarted
	}
	m := method(b.Signal)
	if m == "" {
		return resilience.Permanent(fmt.Errorf("otlpgrpc: unknown signal %s", b.Signal))
	}
	if len(c.headers) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, c.headers...)
	}
	var resp grpcraw.Frame
	if err := conn.Invoke(ctx, m, &grpcraw.Frame{Body: b.Body}, &resp); err != nil {
		if st, ok := status.FromError(err); ok {
			err = resilience.FromGRPCStatus(st)
		}
		return fmt.Errorf("otlpgrpc: export %s to %s: %w", b.Signal, c.endpoint, err)
	}
	if len(resp.Body) == 0 {
		return nil
	}
	ps, err := otlpmsg.DecodeResponse(b.Signal, resp.Body, false)
	if err != nil {
		// Delivered all the same; only the answer is unreadable.
		c.log.Warn("cannot read the export response", "signal", b.Signal.String(), "error", err)
		return nil
	}
	if ps.Rejected > 0 {
		return &sender.PartialSuccess{Rejected: int(ps.Rejected), Message: ps.Message}
	}
	if ps.Message != "" {
		c.log.Warn("destination sent a warning with a full success", "signal", b.Signal.String(), "message", ps.Message)
	}
	return nil
}
