package otlp

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/otlp-dev/otlp/internal/exporter/clientconf"
	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/otlphttp"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

// destination is where one or more signals go: an OTLP exporter (queue, retry, balancer,
// breakers) or a custom Exporter behind a sender.
type destination interface {
	Start(ctx context.Context) error
	Consume(ctx context.Context, b pipeline.Batch) error
	Shutdown(ctx context.Context) error
}

// endpointLister is implemented by the OTLP exporters.
type endpointLister interface{ Endpoints() []lb.EndpointStatus }

// route is the resolved transport of one signal; signals with equal routes share a
// destination (and its queue).
type route struct {
	Protocol    string
	Endpoints   []string
	PerSignal   string // HTTP: the signal's full URL
	Headers     clientconf.Headers
	Compression string
	Timeout     time.Duration
}

func (r route) key() string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s", r.Protocol, strings.Join(r.Endpoints, ","), r.PerSignal, r.Headers.String(), r.Compression, r.Timeout)
}

func resolveRoute(c Config, sc SignalConfig) route {
	r := route{Protocol: c.Export.Protocol, Endpoints: slices.Clone(c.Export.Endpoints),
		Headers: clientconf.Headers(c.Export.Headers), Compression: c.Export.Compression, Timeout: c.Export.Timeout}
	set(&r.Protocol, sc.Protocol)
	set(&r.Compression, sc.Compression)
	set(&r.Timeout, sc.Timeout)
	if sc.Headers != nil {
		r.Headers = clientconf.Headers(sc.Headers)
	}
	if sc.Endpoint != "" {
		if r.Protocol == ProtocolHTTP {
			r.PerSignal = sc.Endpoint
		} else {
			r.Endpoints = []string{sc.Endpoint}
		}
	}
	return r
}

// buildDestinations makes one destination per distinct route. dests[sig] is the signal's.
func buildDestinations(c Config, o *options, m *selftel.Metrics, log *slog.Logger) (all []destination, bySignal [4]destination, err error) {
	if o.exporter != nil {
		d, err := customDestination(c, o.exporter, m, log)
		if err != nil {
			return nil, bySignal, err
		}
		for _, s := range pipeline.Signals {
			bySignal[s] = d
		}
		return []destination{d}, bySignal, nil
	}
	seen := map[string]destination{}
	for _, s := range []struct {
		sig pipeline.Signal
		sc  SignalConfig
	}{{pipeline.SignalTraces, c.Traces}, {pipeline.SignalMetrics, c.Metrics}, {pipeline.SignalLogs, c.Logs}} {
		r := resolveRoute(c, s.sc)
		if d, ok := seen[r.key()]; ok {
			bySignal[s.sig] = d
			continue
		}
		name := "sdk"
		if len(seen) > 0 {
			name = "sdk-" + s.sig.String()
		}
		d, err := otlpDestination(c, r, s.sig, name, m, log)
		if err != nil {
			for _, d := range all {
				_ = d.Shutdown(context.Background())
			}
			return nil, bySignal, err
		}
		seen[r.key()] = d
		bySignal[s.sig] = d
		all = append(all, d)
	}
	return all, bySignal, nil
}

func queueConfig(c Config, name string) sender.QueueConfig {
	q := sender.NewDefaultQueueConfig()
	q.NumConsumers = 2
	q.QueueSize = math.MaxInt32 // bytes are the bound
	q.MaxBytes = c.Batch.MemoryLimit
	q.FullPolicy = sender.PolicyBlock
	// The batcher's worker waits here; the application waits at most BlockTimeout in front.
	q.BlockTimeout = max(c.Batch.BlockTimeout, time.Second)
	if c.DiskBuffer != "" {
		q.Storage = sender.StorageDisk
		q.Disk.Dir = filepath.Join(c.DiskBuffer, name)
		q.Disk.MaxDiskMiB = 0
		q.Disk.MaxDiskBytes = c.Batch.DiskLimit
		q.Disk.MaxMemoryMiB = 0
		q.Disk.MaxMemoryBytes = c.Batch.MemoryLimit
		q.Disk.SegmentMiB = 0
		q.Disk.SegmentBytes = min(8<<20, max(c.Batch.DiskLimit/8, 64<<10))
	}
	return q
}

func retryConfig(c Config) sender.RetryConfig {
	r := sender.NewDefaultRetryConfig()
	r.Enabled = !c.Retry.Disabled
	set(&r.InitialInterval, c.Retry.InitialInterval)
	set(&r.MaxInterval, c.Retry.MaxInterval)
	r.MaxInterval = max(r.MaxInterval, r.InitialInterval)
	r.MaxElapsedTime = c.Retry.MaxElapsed
	return r
}

func balancerConfig(c Config, endpoints []string) lb.Config {
	b := lb.NewDefaultConfig()
	b.CircuitBreaker.FailureThreshold = c.CircuitBreaker.FailureThreshold
	b.CircuitBreaker.Disabled = c.CircuitBreaker.FailureThreshold == 0
	set(&b.CircuitBreaker.RecoveryTimeout, c.CircuitBreaker.RecoveryTimeout)
	b.CircuitBreaker.TrialTimeout = max(b.CircuitBreaker.TrialTimeout, c.Export.Timeout)
	b.Endpoints = make([]lb.EndpointSpec, len(endpoints))
	for i, ep := range endpoints {
		b.Endpoints[i] = lb.EndpointSpec{Address: ep}
	}
	return b
}

func tlsConfig(c Config, insecure bool) clientconf.TLS {
	t := c.Export.TLS
	return clientconf.TLS{Insecure: insecure, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
}

func otlpDestination(c Config, r route, sig pipeline.Signal, name string, m *selftel.Metrics, log *slog.Logger) (destination, error) {
	if r.Protocol == ProtocolHTTP {
		cfg := otlphttp.NewDefaultConfig()
		eps := slices.Clone(r.Endpoints)
		for i, ep := range eps {
			if !strings.Contains(ep, "://") {
				scheme := "https://"
				if c.Export.Insecure {
					scheme = "http://"
				}
				eps[i] = scheme + ep
			}
		}
		if r.PerSignal != "" {
			// A signal's own URL is used as is, with a single endpoint.
			cfg.Endpoint = eps[0]
			switch sig {
			case pipeline.SignalTraces:
				cfg.TracesEndpoint = r.PerSignal
			case pipeline.SignalMetrics:
				cfg.MetricsEndpoint = r.PerSignal
			case pipeline.SignalLogs:
				cfg.LogsEndpoint = r.PerSignal
			}
		} else {
			cfg.Balancer = balancerConfig(c, nil)
			cfg.Endpoints = eps
		}
		cfg.TLS = tlsConfig(c, c.Export.Insecure)
		cfg.Headers = r.Headers
		cfg.Compression = compression(r.Compression)
		cfg.Timeout = r.Timeout
		cfg.Queue = queueConfig(c, name)
		cfg.Retry = retryConfig(c)
		e, err := otlphttp.New(cfg, otlphttp.Settings{Name: name, Logger: log, Metrics: m})
		if err != nil {
			return nil, fmt.Errorf("otlp: exporter: %w", err)
		}
		return e, nil
	}
	cfg := otlpgrpc.NewDefaultConfig()
	// The exporter reads each endpoint's scheme: http:// is plaintext, https:// TLS, and a bare
	// host:port follows insecure. Always balanced, even with one endpoint: every endpoint gets
	// its circuit breaker.
	cfg.Endpoints = slices.Clone(r.Endpoints)
	cfg.Balancer = balancerConfig(c, nil)
	cfg.TLS = tlsConfig(c, c.Export.Insecure)
	cfg.Headers = r.Headers
	cfg.Compression = compression(r.Compression)
	cfg.Timeout = r.Timeout
	cfg.Queue = queueConfig(c, name)
	cfg.Retry = retryConfig(c)
	e, err := otlpgrpc.New(cfg, otlpgrpc.Settings{Name: name, Logger: log, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("otlp: exporter: %w", err)
	}
	return e, nil
}

func compression(c string) string {
	if c == "" {
		return "none"
	}
	return c
}

// customSender is a custom Exporter behind a sender.
type customSender struct{ *sender.Sender }

func customDestination(c Config, e Exporter, m *selftel.Metrics, log *slog.Logger) (destination, error) {
	s, err := sender.New(exporterConsumer{e}, sender.Config{Queue: queueConfig(c, "custom"), Retry: retryConfig(c), Timeout: c.Export.Timeout},
		sender.Settings{Name: "custom", Logger: log, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("otlp: exporter: %w", err)
	}
	return customSender{s}, nil
}
