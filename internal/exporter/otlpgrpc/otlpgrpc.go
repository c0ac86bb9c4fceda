// Package otlpgrpc exports batches to an OTLP/gRPC endpoint. Requests travel as the raw
// protobuf bytes they arrived in (grpcraw codec): nothing is re-encoded on the way out.
package otlpgrpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otlp-dev/otlp/internal/exporter/otlpmsg"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/grpcraw"
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
}

// ErrNotStarted refuses attempts before Start (retryable: the exporter is coming up).
var ErrNotStarted = errors.New("otlpgrpc: not started")

// Exporter sends batches through its sender (queue, retries) to the endpoint.
type Exporter struct {
	cfg    Config
	log    *slog.Logger
	client *client
	sender *sender.Sender

	mu       sync.Mutex
	started  bool   // guarded by mu
	shutdown bool   // guarded by mu
	release  func() // guarded by mu; frees the compressor once the connection is closed
}

// New validates cfg and loads the TLS files; Start connects.
func New(cfg Config, set Settings) (*Exporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	dialOpts, err := dialOptions(cfg)
	if err != nil {
		return nil, err
	}
	c := &client{endpoint: cfg.Endpoint, dialOpts: dialOpts, log: set.Logger}
	for _, k := range cfg.Headers.Keys() {
		c.headers = append(c.headers, k, cfg.Headers[k])
	}
	s, err := sender.New(c, sender.Config{Queue: cfg.Queue, Retry: cfg.Retry, Timeout: cfg.Timeout},
		sender.Settings{Name: set.Name, Logger: set.Logger, Metrics: set.Metrics, Queue: set.Queue, UnhealthyAfter: cfg.UnhealthyAfter})
	if err != nil {
		return nil, err
	}
	return &Exporter{cfg: cfg, log: set.Logger, client: c, sender: s}, nil
}

func dialOptions(cfg Config) ([]grpc.DialOption, error) {
	tlsCfg, err := cfg.TLS.Load()
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	callOpts := []grpc.CallOption{grpc.ForceCodecV2(grpcraw.Codec{}), grpc.WaitForReady(cfg.WaitForReady)}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(callOpts...),
		grpc.WithUserAgent("otlp-exporter"),
	}
	if cfg.Keepalive.Time > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: cfg.Keepalive.Time, Timeout: cfg.Keepalive.Timeout, PermitWithoutStream: cfg.Keepalive.PermitWithoutStream,
		}))
	}
	return opts, nil
}

// Start creates the connection (lazily dialled by the first request) and the workers.
func (e *Exporter) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.shutdown {
		return nil
	}
	compOpts, release, err := compression(e.cfg.Compression)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(e.cfg.Endpoint, append(slices.Clip(e.client.dialOpts), compOpts...)...)
	if err != nil {
		release()
		return fmt.Errorf("otlpgrpc: endpoint %s: %w", e.cfg.Endpoint, err)
	}
	e.client.conn.Store(conn)
	e.release = release
	e.started = true
	e.log.Info("otlp exporter started", "endpoint", e.cfg.Endpoint, "tls", !e.cfg.TLS.Insecure,
		"compression", e.cfg.Compression, "headers", e.cfg.Headers, "queue", e.cfg.Queue.Enabled)
	return e.sender.Start(ctx)
}

// Shutdown drains the queue within ctx's deadline, then closes the connection. Idempotent.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.shutdown {
		e.mu.Unlock()
		return nil
	}
	e.shutdown = true
	e.mu.Unlock()
	// Start cannot run any more: release is settled.
	err := e.sender.Shutdown(ctx)
	if conn := e.client.conn.Swap(nil); conn != nil {
		err = errors.Join(err, conn.Close())
		e.release()
	}
	return err
}

// Consume hands b to the sender.
func (e *Exporter) Consume(ctx context.Context, b pipeline.Batch) error {
	return e.sender.Consume(ctx, b)
}

// Healthy is false once every attempt has failed for a while.
func (e *Exporter) Healthy() bool { return e.sender.Healthy() }

// Status is the sender's health view.
func (e *Exporter) Status() sender.Status { return e.sender.Status() }

// client makes single attempts.
type client struct {
	endpoint string
	dialOpts []grpc.DialOption
	headers  []string // key, value, …
	log      *slog.Logger
	conn     atomic.Pointer[grpc.ClientConn]
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
