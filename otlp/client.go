package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/global"
	lognoop "go.opentelemetry.io/otel/log/noop"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

// Client owns the OpenTelemetry tracer, meter and logger providers of an application and the
// path that delivers their telemetry: encoding, batching, a sending queue in memory or on
// disk, retries and per-endpoint circuit breakers.
type Client struct {
	opts  options
	log   *slog.Logger
	level *slog.LevelVar
	m     *selftel.Metrics

	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	loggerProvider log.LoggerProvider
	tp             *sdktrace.TracerProvider // nil when disabled
	mp             *sdkmetric.MeterProvider
	lp             *sdklog.LoggerProvider

	sampler *sampler
	limits  batchLimits
	refs    [4]destRef // per pipeline.Signal
	spans   *batcher[sdktrace.ReadOnlySpan]
	logs    *batcher[sdklog.Record]
	points  counter

	reload reloader

	mu       sync.Mutex
	cfg      Config        // guarded by mu
	dests    []destination // guarded by mu
	shutdown bool          // guarded by mu
	bg       sync.WaitGroup
}

// New builds a client from the defaults, the configuration file (FromConfigFile), the OTEL_*
// environment variables and opts, in that order of precedence (later wins), and starts it.
// With OTEL_SDK_DISABLED=true every provider is a no-op.
func New(ctx context.Context, opts ...Option) (*Client, error) {
	o := options{getenv: os.Getenv, lookupEnv: os.LookupEnv}
	for _, opt := range opts {
		opt(&o)
	}
	level := new(slog.LevelVar)
	cfg, warnings, err := resolve(&o)
	if err != nil {
		return nil, err
	}
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	lg := o.logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	lg = lg.With("component", "otlp-sdk")
	for _, w := range warnings {
		lg.Warn("environment: " + w)
	}
	c := &Client{opts: o, log: lg, level: level, m: selftel.New(), cfg: cfg}
	if cfg.Disabled {
		c.tracerProvider, c.meterProvider, c.loggerProvider = tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider(), lognoop.NewLoggerProvider()
		c.installGlobals()
		return c, nil
	}
	all, bySig, err := buildDestinations(cfg, &o, c.m, lg)
	if err != nil {
		return nil, err
	}
	for _, d := range all {
		if err := d.Start(ctx); err != nil {
			for _, d := range all {
				_ = d.Shutdown(ctx)
			}
			return nil, fmt.Errorf("otlp: start: %w", err)
		}
	}
	c.dests = all
	for _, s := range pipeline.Signals {
		c.refs[s].store(bySig[s])
	}
	c.limits.set(cfg.Batch)
	c.sampler = newSampler(cfg)
	var smp sdktrace.Sampler = c.sampler
	if o.configFile == "" {
		smp = c.sampler.current() // no file, no reload: spare every span the indirection
	}
	res := buildResource(cfg, o.attrs)

	c.spans = newBatcher(pipeline.SignalTraces, encodeSpans(), &c.refs[pipeline.SignalTraces], &c.limits, c.m, lg)
	c.tp = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSampler(smp),
		sdktrace.WithSpanProcessor(newSpanProcessor(c.spans)))
	c.logs = newBatcher(pipeline.SignalLogs, encodeLogs(), &c.refs[pipeline.SignalLogs], &c.limits, c.m, lg)
	c.lp = sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(&logProcessor{b: c.logs}))
	reader := sdkmetric.NewPeriodicReader(&metricExporter{dest: &c.refs[pipeline.SignalMetrics], m: c.m, accepted: &c.points},
		sdkmetric.WithInterval(cfg.MetricInterval))
	c.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
	c.tracerProvider, c.meterProvider, c.loggerProvider = c.tp, c.mp, c.lp
	if err := c.registerSelfMetrics(); err != nil {
		lg.Warn("self metrics not registered", "error", err)
	}
	c.installGlobals()
	if o.watch && o.configFile != "" {
		if err := c.reload.watch(c, o.configFile); err != nil {
			_ = c.Shutdown(ctx)
			return nil, err
		}
	}
	lg.Debug("client started", "endpoints", cfg.Export.Endpoints, "protocol", cfg.Export.Protocol, "disk_buffer", cfg.DiskBuffer)
	return c, nil
}

// resolve builds the Config from its layers: defaults, file, environment, options.
func resolve(o *options) (Config, []string, error) {
	cfg := DefaultConfig()
	if o.configFile != "" {
		if err := loadFile(o.configFile, o.lookupEnv, &cfg); err != nil {
			return Config{}, nil, err
		}
	}
	warnings := applyEnv(&cfg, o.getenv)
	for _, e := range o.edits {
		e(&cfg)
	}
	if cfg.Export.Protocol == ProtocolHTTP && slices.Equal(cfg.Export.Endpoints, []string{DefaultGRPCEndpoint}) {
		cfg.Export.Endpoints = []string{DefaultHTTPEndpoint} // the default of the protocol chosen
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, warnings, fmt.Errorf("otlp: config: %w", err)
	}
	return cfg.clone(), warnings, nil
}

func buildResource(c Config, code []attribute.KeyValue) *resource.Resource {
	keys := make([]string, 0, len(c.ResourceAttributes))
	for k := range c.ResourceAttributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]attribute.KeyValue, 0, len(keys)+3+len(code))
	for _, k := range keys {
		attrs = append(attrs, attribute.String(k, c.ResourceAttributes[k]))
	}
	attrs = append(attrs, attribute.String("service.name", c.ServiceName))
	if c.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", c.ServiceVersion))
	}
	if c.Environment != "" {
		attrs = append(attrs, attribute.String("deployment.environment.name", c.Environment))
	}
	attrs = append(attrs, code...) // code wins over the environment
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return resource.NewSchemaless(attrs...)
	}
	return res
}

func (c *Client) installGlobals() {
	if !c.opts.global {
		return
	}
	otel.SetTracerProvider(c.tracerProvider)
	otel.SetMeterProvider(c.meterProvider)
	global.SetLoggerProvider(c.loggerProvider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}

// Tracer returns a tracer of the client's provider.
func (c *Client) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return c.tracerProvider.Tracer(name, opts...)
}

// Meter returns a meter of the client's provider.
func (c *Client) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return c.meterProvider.Meter(name, opts...)
}

// Logger returns a logger of the client's provider (bridge it to slog with otelslog).
func (c *Client) Logger(name string, opts ...log.LoggerOption) log.Logger {
	return c.loggerProvider.Logger(name, opts...)
}

// TracerProvider, MeterProvider and LoggerProvider return the providers, for instrumentation
// libraries that take one (otelhttp.WithTracerProvider, …).
func (c *Client) TracerProvider() trace.TracerProvider { return c.tracerProvider }
func (c *Client) MeterProvider() metric.MeterProvider  { return c.meterProvider }
func (c *Client) LoggerProvider() log.LoggerProvider   { return c.loggerProvider }

// Config returns the configuration in force.
func (c *Client) Config() Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.clone()
}

// bounded limits ctx to the shutdown timeout: Shutdown and ForceFlush return in bounded time
// even when given context.Background() and no collector answers.
func (c *Client) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	c.mu.Lock()
	d := c.cfg.ShutdownTimeout
	c.mu.Unlock()
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("shutdown_timeout %s passed", d))
}

// ForceFlush hands everything buffered to the sending queue and waits until the queue is
// empty (delivered, or dropped and counted), ctx ends or the shutdown timeout passes. What
// is not delivered by then stays queued.
func (c *Client) ForceFlush(ctx context.Context) error {
	if c.tp == nil {
		return nil
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	err := errors.Join(c.tp.ForceFlush(ctx), c.lp.ForceFlush(ctx), c.mp.ForceFlush(ctx))
	if err != nil {
		return err
	}
	// Done when every item accepted so far was delivered or dropped: the queues' length
	// alone misses the batches being sent.
	target := settledTarget(c.Stats())
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st := c.Stats()
		if settled(st) >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("otlp: flush: %d items not delivered yet, still queued (%v): %w", target-settled(st), context.Cause(ctx), ctx.Err())
		case <-tick.C:
		}
	}
}

func settledTarget(st Stats) int64 {
	return st.Traces.Accepted + st.Metrics.Accepted + st.Logs.Accepted
}

func settled(st Stats) int64 {
	var n int64
	for _, s := range []SignalStats{st.Traces, st.Metrics, st.Logs} {
		n += s.Exported + s.DroppedTotal()
	}
	return n
}

// Shutdown flushes the providers into the queue, then drains the queue until ctx ends or the
// shutdown timeout (default 10s) passes. What is left is kept in the disk buffer (delivered
// after the next start) or, without one, counted as dropped with reason "shutdown".
// Idempotent.
func (c *Client) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	if c.shutdown {
		c.mu.Unlock()
		return nil
	}
	c.shutdown = true
	c.mu.Unlock()
	c.reload.stop()
	c.bg.Wait()
	if c.tp == nil {
		return nil
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	err := errors.Join(c.tp.Shutdown(ctx), c.lp.Shutdown(ctx), c.mp.Shutdown(ctx))
	c.mu.Lock()
	dests := c.dests
	c.mu.Unlock()
	for _, d := range dests {
		err = errors.Join(err, d.Shutdown(ctx))
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
			return fmt.Errorf("otlp: shutdown (%v): %w", cause, err)
		}
		return fmt.Errorf("otlp: shutdown: %w", err)
	}
	return nil
}
