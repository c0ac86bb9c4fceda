// Package otlphttp exports batches to an OTLP/HTTP endpoint, or balances them across several
// (internal/exporter/balance), in protobuf (the request bytes as they arrived) or OTLP/JSON.
package otlphttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/otlp-dev/otlp/internal/exporter/balance"
	"github.com/otlp-dev/otlp/internal/exporter/otlpmsg"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// Settings are injected by the server.
type Settings struct {
	Name    string // e.g. "otlphttp/backup"
	Logger  *slog.Logger
	Metrics *selftel.Metrics
	// Queue, when set, replaces the memory queue (a durable queue); used only when
	// sending_queue is enabled.
	Queue sender.Queue
	// Balancer is handed to the load balancer with several endpoints (a clock, a DNS or
	// endpoint resolver, a probe: mostly for tests).
	Balancer lb.Settings
}

// maxResponse bounds how much of a response body is read.
const maxResponse = 64 << 10

// Exporter sends batches through its sender (queue, retries) to the endpoint, or through a
// balancer to one of several.
type Exporter struct {
	cfg       Config
	log       *slog.Logger
	transport *http.Transport // shared by every endpoint
	client    *client         // one endpoint; with several, the template of theirs
	router    *balance.Router // several endpoints
	sender    *sender.Sender

	mu       sync.Mutex
	started  bool // guarded by mu
	shutdown bool // guarded by mu
}

// New validates cfg and loads the TLS files.
func New(cfg Config, set Settings) (*Exporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	tlsCfg, err := cfg.TLS.Load()
	if err != nil {
		return nil, err
	}
	workers := 1
	if cfg.Queue.Enabled {
		workers = cfg.Queue.NumConsumers
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: max(workers, 2),
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	c := &client{cfg: cfg, http: &http.Client{Transport: tr}, log: set.Logger}
	if cfg.Compression == CompressionZstd {
		// EncodeAll is safe for concurrent use and starts no goroutines.
		if c.zstd, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)); err != nil {
			return nil, fmt.Errorf("compression: %w", err)
		}
	}
	for _, sig := range pipeline.Signals {
		c.urls[sig] = cfg.signalURL(sig)
	}
	e := &Exporter{cfg: cfg, log: set.Logger, transport: tr, client: c}
	var next sender.Consumer = c
	if cfg.Balanced() {
		urls := cfg.baseURLs()
		dial := func(addr string) (balance.Client, error) {
			base, ok := urls[addr]
			if !ok {
				base = cfg.discoveredURL(addr)
			}
			return c.forBase(base), nil
		}
		e.router, err = balance.New(cfg.BalancerConfig(), balance.Settings{Name: set.Name, Logger: set.Logger,
			Metrics: set.Metrics, Dial: dial, LB: set.Balancer})
		if err != nil {
			e.closeCodecs()
			return nil, fmt.Errorf("balancer.%w", err)
		}
		next = e.router
	}
	e.sender, err = sender.New(next, sender.Config{Queue: cfg.Queue, Retry: cfg.Retry, Timeout: cfg.Timeout},
		sender.Settings{Name: set.Name, Logger: set.Logger, Metrics: set.Metrics, Queue: set.Queue, UnhealthyAfter: cfg.UnhealthyAfter})
	if err != nil {
		if e.router != nil {
			_ = e.router.Shutdown(context.Background())
		}
		e.closeCodecs()
		return nil, err
	}
	return e, nil
}

func (e *Exporter) closeCodecs() {
	if e.client.zstd != nil {
		_ = e.client.zstd.Close()
	}
}

// Start starts the balancer, with several endpoints, and the workers.
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
	}
	e.started = true
	e.log.Info("otlphttp exporter started", "endpoint", e.cfg.Endpoint, "endpoints", e.endpointNames(),
		"encoding", e.cfg.Encoding, "compression", e.cfg.Compression, "headers", e.cfg.Headers,
		"queue", e.cfg.Queue.Enabled, "storage", e.cfg.Queue.Storage)
	return e.sender.Start(ctx)
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

// Shutdown drains the queue within ctx's deadline (a disk queue keeps what is left) and
// closes idle connections. Idempotent.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.shutdown {
		e.mu.Unlock()
		return nil
	}
	e.shutdown = true
	e.mu.Unlock()
	err := e.sender.Shutdown(ctx)
	if e.router != nil {
		err = errors.Join(err, e.router.Shutdown(ctx))
	}
	e.transport.CloseIdleConnections()
	e.closeCodecs()
	return err
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

// client makes single attempts.
type client struct {
	cfg  Config
	http *http.Client
	urls [4]string     // by signal
	zstd *zstd.Encoder // when compression is zstd
	log  *slog.Logger
}

// forBase is a client for another endpoint: the same settings, transport and encoders, the
// signal paths under base.
func (c *client) forBase(base string) *client {
	o := &client{cfg: c.cfg, http: c.http, zstd: c.zstd, log: c.log}
	for _, sig := range pipeline.Signals {
		o.urls[sig] = base + "/v1/" + sig.String()
	}
	return o
}

// Close implements balance.Client: the transport is shared, idle connections to an endpoint
// that left time out.
func (c *client) Close() error { return nil }

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

// Consume posts b once and reads the answer.
func (c *client) Consume(ctx context.Context, b pipeline.Batch) error {
	if b.Signal < pipeline.SignalTraces || b.Signal > pipeline.SignalLogs {
		return resilience.Permanent(fmt.Errorf("otlphttp: unknown signal %s", b.Signal))
	}
	url := c.urls[b.Signal]
	body, contentType := b.Body, "application/x-protobuf"
	if c.cfg.Encoding == EncodingJSON {
		js, err := otlpmsg.ToJSON(b.Signal, b.Body)
		if err != nil {
			return resilience.Permanent(fmt.Errorf("otlphttp: encode %s as JSON: %w", b.Signal, err))
		}
		body, contentType = js, "application/json"
	}
	switch c.cfg.Compression {
	case CompressionZstd:
		body = c.zstd.EncodeAll(body, make([]byte, 0, len(body)/4+64))
	case CompressionGzip:
		var buf bytes.Buffer
		buf.Grow(len(body)/4 + 64)
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&buf)
		_, werr := zw.Write(body)
		cerr := zw.Close()
		zw.Reset(io.Discard)
		gzipWriters.Put(zw)
		if err := errors.Join(werr, cerr); err != nil {
			return fmt.Errorf("otlphttp: gzip: %w", err)
		}
		body = buf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return resilience.Permanent(fmt.Errorf("otlphttp: %w", err))
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "otlp-exporter")
	if c.cfg.Compression != CompressionNone {
		req.Header.Set("Content-Encoding", c.cfg.Compression)
	}
	for k, v := range c.cfg.Headers {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("otlphttp: export %s: %w", b.Signal, resilience.TransportError("POST "+url, err))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		_ = resp.Body.Close()
	}()
	respBody, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	isJSON := mt == "application/json"
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := resilience.FromHTTPResponse(resp.StatusCode, resp.Header, statusMessage(respBody, mt))
		return fmt.Errorf("otlphttp: export %s to %s: %w", b.Signal, url, err)
	}
	if rerr != nil || len(respBody) == 0 {
		return nil // delivered; the answer carries nothing more
	}
	ps, err := otlpmsg.DecodeResponse(b.Signal, respBody, isJSON)
	if err != nil {
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

// statusMessage extracts the message of a google.rpc.Status error body, as OTLP/HTTP servers
// send, or returns the body as text.
func statusMessage(body []byte, mediaType string) string {
	var st spb.Status
	var err error
	switch mediaType {
	case "application/json":
		err = protojson.Unmarshal(body, &st)
	case "application/x-protobuf", "application/protobuf":
		err = proto.Unmarshal(body, &st)
	default:
		return string(body)
	}
	if err == nil && st.GetMessage() != "" {
		return st.GetMessage()
	}
	return string(body)
}
