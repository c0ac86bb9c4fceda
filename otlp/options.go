package otlp

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Protocols.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Full policies: what the client does with new telemetry when its memory buffer and the
// sending queue (or disk buffer) are full.
const (
	// FullBlock makes the instrumented call wait up to Batch.BlockTimeout for room, then drops
	// the item, counted with reason "queue_full".
	FullBlock = "block"
	// FullDrop drops the new item at once, counted with reason "queue_full".
	FullDrop = "drop"
)

// Config is the resolved configuration of a Client: defaults, then the TOML file, then the
// OTEL_* environment variables, then the options given to New (see docs/sdk.md). Subscribers
// of reloads receive it.
type Config struct {
	// Disabled (OTEL_SDK_DISABLED) makes every provider a no-op; nothing is sent.
	Disabled bool

	ServiceName    string
	ServiceVersion string
	Environment    string // deployment.environment.name
	// ResourceAttributes are added to the resource (OTEL_RESOURCE_ATTRIBUTES).
	ResourceAttributes map[string]string

	// Export is the default destination of every signal; Traces, Metrics and Logs override
	// parts of it per signal.
	Export  ExportConfig
	Traces  SignalConfig
	Metrics SignalConfig
	Logs    SignalConfig

	Batch          BatchConfig
	Retry          RetryConfig
	CircuitBreaker BreakerConfig

	// SamplingRatio samples this fraction of new traces (1: all, 0: none); children follow
	// their parent's decision unless ParentBased is false.
	SamplingRatio float64
	ParentBased   bool

	// DiskBuffer, when set, keeps queued telemetry in this directory until a collector
	// accepted it: it survives outages of any length and restarts of the application.
	DiskBuffer string

	// MetricInterval is how often metrics are collected and exported.
	MetricInterval time.Duration
	// ShutdownTimeout bounds Shutdown and ForceFlush, whatever context they are given: with no
	// collector reachable they return after this long (or at the context's deadline, if sooner).
	ShutdownTimeout time.Duration
	// LogLevel is the level of the client's own log (debug, info, warn, error).
	LogLevel string
}

// ExportConfig is where and how telemetry is sent.
type ExportConfig struct {
	Protocol string // ProtocolGRPC (default) or ProtocolHTTP
	// Endpoints are host:port (gRPC) or base URLs (HTTP). Several are balanced round robin
	// with failover; each has its own circuit breaker.
	Endpoints   []string
	Insecure    bool
	TLS         TLSConfig
	Headers     map[string]string
	Compression string // gzip (default), zstd, none
	// Timeout bounds each export attempt.
	Timeout time.Duration
}

// SignalConfig overrides ExportConfig for one signal; zero fields inherit.
type SignalConfig struct {
	Protocol string
	// Endpoint is the full URL of the signal (HTTP: used as is, without /v1/... appended), or
	// host:port for gRPC.
	Endpoint    string
	Headers     map[string]string
	Compression string
	Timeout     time.Duration
}

// TLSConfig is the client's TLS: a CA to verify the collector, and a client certificate for
// mutual TLS.
type TLSConfig struct {
	CAFile, CertFile, KeyFile string
	ServerName                string
	InsecureSkipVerify        bool
}

// BatchConfig sizes the in-memory buffer in front of the sending queue.
type BatchConfig struct {
	// MaxSize is the most spans or log records per export request.
	MaxSize int
	// MaxBytes is the most bytes of one encoded export request: a chunk of MaxSize
	// items that would encode larger goes out in several requests. Keep it under the
	// collector's message limit (4 MiB for the OpenTelemetry Collector's gRPC receiver).
	MaxBytes int
	// Timeout sends a partial batch this long after its first item.
	Timeout time.Duration
	// QueueSize bounds the items buffered in memory before they are encoded.
	QueueSize int
	// MemoryLimit bounds the bytes of encoded requests waiting in the memory sending queue
	// (the disk buffer has its own bound, DiskLimit).
	MemoryLimit int64
	// DiskLimit bounds the disk buffer, in bytes.
	DiskLimit int64
	// FullPolicy is FullBlock (default) or FullDrop.
	FullPolicy   string
	BlockTimeout time.Duration
}

// RetryConfig is the retry of failed exports: exponential backoff with jitter that honours
// the collector's throttling (Retry-After, RetryInfo). With a disk buffer, retries continue
// until the data is delivered; without one, MaxElapsed bounds them (then the data is
// dropped, counted).
type RetryConfig struct {
	Disabled        bool
	InitialInterval time.Duration
	MaxInterval     time.Duration
	MaxElapsed      time.Duration
}

// BreakerConfig is the circuit breaker of each endpoint.
type BreakerConfig struct {
	// FailureThreshold consecutive failures open the breaker (0: no breaker).
	FailureThreshold int
	// RecoveryTimeout is how long it stays open before a trial request.
	RecoveryTimeout time.Duration
}

// The default endpoints, as the OpenTelemetry specification gives them: plaintext to a
// collector on the same host, so the zero-configuration SDK reaches a zero-configuration
// otlp-server (or Collector).
const (
	DefaultGRPCEndpoint = "http://localhost:4317"
	DefaultHTTPEndpoint = "http://localhost:4318"
)

// DefaultConfig is the configuration before any file, variable or option.
func DefaultConfig() Config {
	return Config{
		ServiceName: "unknown_service",
		Export: ExportConfig{
			Protocol: ProtocolGRPC, Endpoints: []string{DefaultGRPCEndpoint},
			Compression: "gzip", Timeout: 10 * time.Second,
		},
		Batch: BatchConfig{
			MaxSize: 2048, MaxBytes: 1 << 20, Timeout: time.Second, QueueSize: 8192,
			MemoryLimit: 16 << 20, DiskLimit: 1 << 30,
			FullPolicy: FullBlock, BlockTimeout: 100 * time.Millisecond,
		},
		Retry:          RetryConfig{InitialInterval: time.Second, MaxInterval: 30 * time.Second, MaxElapsed: 5 * time.Minute},
		CircuitBreaker: BreakerConfig{FailureThreshold: 5, RecoveryTimeout: 10 * time.Second},
		SamplingRatio:  1, ParentBased: true,
		MetricInterval:  30 * time.Second,
		ShutdownTimeout: 10 * time.Second,
		LogLevel:        "warn",
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.Export.Protocol != ProtocolGRPC && c.Export.Protocol != ProtocolHTTP:
		return fmt.Errorf("protocol: %q is neither %s nor %s", c.Export.Protocol, ProtocolGRPC, ProtocolHTTP)
	case len(c.Export.Endpoints) == 0:
		return fmt.Errorf("endpoints: at least one is required")
	case c.SamplingRatio < 0 || c.SamplingRatio > 1:
		return fmt.Errorf("sampling ratio: must be within [0, 1], got %v", c.SamplingRatio)
	case c.Batch.MaxSize < 1:
		return fmt.Errorf("batch.max_size: must be >= 1, got %d", c.Batch.MaxSize)
	case c.Batch.MaxBytes < 0:
		return fmt.Errorf("batch.max_bytes: must be >= 0, got %d", c.Batch.MaxBytes)
	case c.Batch.QueueSize < c.Batch.MaxSize:
		return fmt.Errorf("batch.queue_size: must be >= max_size (%d), got %d", c.Batch.MaxSize, c.Batch.QueueSize)
	case c.Batch.Timeout <= 0:
		return fmt.Errorf("batch.timeout: must be > 0, got %s", c.Batch.Timeout)
	case c.Batch.FullPolicy != FullBlock && c.Batch.FullPolicy != FullDrop:
		return fmt.Errorf("batch.full_policy: %q is neither %s nor %s", c.Batch.FullPolicy, FullBlock, FullDrop)
	case c.Batch.BlockTimeout < 0:
		return fmt.Errorf("batch.block_timeout: must be >= 0, got %s", c.Batch.BlockTimeout)
	case c.MetricInterval <= 0:
		return fmt.Errorf("metric interval: must be > 0, got %s", c.MetricInterval)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("shutdown_timeout: must be > 0, got %s", c.ShutdownTimeout)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	for _, s := range []struct {
		name string
		sc   SignalConfig
	}{{"traces", c.Traces}, {"metrics", c.Metrics}, {"logs", c.Logs}} {
		if p := s.sc.Protocol; p != "" && p != ProtocolGRPC && p != ProtocolHTTP {
			return fmt.Errorf("%s.protocol: %q is neither %s nor %s", s.name, p, ProtocolGRPC, ProtocolHTTP)
		}
	}
	return nil
}

// clone copies the maps and slices, so that layers and subscribers never share them.
func (c Config) clone() Config {
	c.ResourceAttributes = maps.Clone(c.ResourceAttributes)
	c.Export.Endpoints = slices.Clone(c.Export.Endpoints)
	c.Export.Headers = maps.Clone(c.Export.Headers)
	c.Traces.Headers = maps.Clone(c.Traces.Headers)
	c.Metrics.Headers = maps.Clone(c.Metrics.Headers)
	c.Logs.Headers = maps.Clone(c.Logs.Headers)
	return c
}

// Option configures New. Options are applied after the file and the environment, in order.
type Option func(*options)

// options are the Config plus what cannot be written in a file.
type options struct {
	cfg        Config
	edits      []func(*Config) // the Config part of the options, replayed on reload
	configFile string
	watch      bool
	getenv     func(string) string
	lookupEnv  func(string) (string, bool) // for ${VAR} in the file: unset differs from empty
	attrs      []attribute.KeyValue
	exporter   Exporter
	global     bool
	logger     *slog.Logger
}

func edit(f func(*Config)) Option { return func(o *options) { o.edits = append(o.edits, f) } }

// WithEndpoint sets the collector endpoints: host:port for gRPC, base URLs for HTTP
// ("http://host:4318"). A gRPC endpoint written as http://host:port is sent in clear text.
func WithEndpoint(endpoints ...string) Option {
	eps := slices.Clone(endpoints)
	return edit(func(c *Config) { c.Export.Endpoints = slices.Clone(eps) })
}

// WithProtocol selects ProtocolGRPC or ProtocolHTTP.
func WithProtocol(p string) Option { return edit(func(c *Config) { c.Export.Protocol = p }) }

// WithInsecure sends in clear text (gRPC; HTTP follows the endpoint's scheme).
func WithInsecure() Option { return edit(func(c *Config) { c.Export.Insecure = true }) }

// WithTLS verifies the collector with a CA file and, with a certificate and key, authenticates
// the client (mutual TLS).
func WithTLS(t TLSConfig) Option { return edit(func(c *Config) { c.Export.TLS = t }) }

// WithHeaders adds headers (gRPC metadata) to every export request.
func WithHeaders(h map[string]string) Option {
	h = maps.Clone(h)
	return edit(func(c *Config) {
		if c.Export.Headers == nil {
			c.Export.Headers = map[string]string{}
		}
		maps.Copy(c.Export.Headers, h)
	})
}

// WithBearerToken sends "authorization: Bearer <token>".
func WithBearerToken(token string) Option {
	return WithHeaders(map[string]string{"authorization": "Bearer " + token})
}

// WithCompression sets gzip, zstd or none.
func WithCompression(c string) Option { return edit(func(cfg *Config) { cfg.Export.Compression = c }) }

// WithTimeout bounds each export attempt.
func WithTimeout(d time.Duration) Option { return edit(func(c *Config) { c.Export.Timeout = d }) }

// WithService names the service and its version.
func WithService(name, version string) Option {
	return edit(func(c *Config) {
		c.ServiceName = name
		if version != "" {
			c.ServiceVersion = version
		}
	})
}

// WithEnvironment sets deployment.environment.name.
func WithEnvironment(env string) Option { return edit(func(c *Config) { c.Environment = env }) }

// WithResourceAttributes adds attributes to the resource; they win over the environment's.
func WithResourceAttributes(attrs ...attribute.KeyValue) Option {
	attrs = slices.Clone(attrs)
	return func(o *options) { o.attrs = append(o.attrs, attrs...) }
}

// WithBatch replaces the batching and buffering settings; zero fields keep their value.
func WithBatch(b BatchConfig) Option {
	return edit(func(c *Config) {
		set(&c.Batch.MaxSize, b.MaxSize)
		set(&c.Batch.MaxBytes, b.MaxBytes)
		set(&c.Batch.Timeout, b.Timeout)
		set(&c.Batch.QueueSize, b.QueueSize)
		set(&c.Batch.MemoryLimit, b.MemoryLimit)
		set(&c.Batch.DiskLimit, b.DiskLimit)
		set(&c.Batch.FullPolicy, b.FullPolicy)
		set(&c.Batch.BlockTimeout, b.BlockTimeout)
	})
}

// WithRetry replaces the retry settings; zero durations keep their value.
func WithRetry(r RetryConfig) Option {
	return edit(func(c *Config) {
		c.Retry.Disabled = r.Disabled
		set(&c.Retry.InitialInterval, r.InitialInterval)
		set(&c.Retry.MaxInterval, r.MaxInterval)
		set(&c.Retry.MaxElapsed, r.MaxElapsed)
	})
}

// WithCircuitBreaker sets each endpoint's breaker.
func WithCircuitBreaker(b BreakerConfig) Option {
	return edit(func(c *Config) { c.CircuitBreaker = b })
}

// WithSamplingRatio samples this fraction of new traces, parent based.
func WithSamplingRatio(r float64) Option {
	return edit(func(c *Config) { c.SamplingRatio, c.ParentBased = r, true })
}

// WithDiskBuffer keeps queued telemetry in dir until it is delivered: outages of any length
// and application restarts lose nothing. One directory per client.
func WithDiskBuffer(dir string) Option { return edit(func(c *Config) { c.DiskBuffer = dir }) }

// WithFullPolicy sets what happens when every buffer is full: FullBlock waits up to
// blockTimeout, FullDrop drops at once; either way each dropped item is counted.
func WithFullPolicy(policy string, blockTimeout time.Duration) Option {
	return edit(func(c *Config) { c.Batch.FullPolicy, c.Batch.BlockTimeout = policy, blockTimeout })
}

// WithMetricInterval sets how often metrics are exported.
func WithMetricInterval(d time.Duration) Option {
	return edit(func(c *Config) { c.MetricInterval = d })
}

// WithShutdownTimeout bounds Shutdown and ForceFlush (default 10s): they return after d at
// the latest, even when given context.Background() and no collector answers.
func WithShutdownTimeout(d time.Duration) Option {
	return edit(func(c *Config) { c.ShutdownTimeout = d })
}

// WithConfig replaces the whole configuration built so far.
func WithConfig(cfg Config) Option {
	cfg = cfg.clone()
	return edit(func(c *Config) { *c = cfg.clone() })
}

// WithExporter sends to a custom backend instead of OTLP: the exporter gets encoded requests
// from the same queue, retry and disk buffer.
func WithExporter(e Exporter) Option { return func(o *options) { o.exporter = e } }

// WithGlobal installs the client's providers as the OpenTelemetry globals, with the W3C
// trace-context and baggage propagator, so that instrumentation libraries use them.
func WithGlobal() Option { return func(o *options) { o.global = true } }

// WithLogger sets the client's own log (default: slog.Default's handler at LogLevel).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithEnv reads environment variables through getenv instead of os.Getenv (nil: ignore the
// environment).
func WithEnv(getenv func(string) string) Option {
	return func(o *options) {
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		o.getenv = getenv
		o.lookupEnv = func(k string) (string, bool) { v := getenv(k); return v, v != "" }
	}
}

// FromConfigFile reads the [otlp] and [sdk] sections of a TOML file (the server's shape, see
// docs/sdk.md) and watches it: a valid change is applied and reported to subscribers, an
// invalid one is logged and the running configuration stays.
func FromConfigFile(path string) Option {
	return func(o *options) { o.configFile, o.watch = path, true }
}

func set[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}
