package otlpgrpc

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/otlp-dev/otlp/internal/exporter/clientconf"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/lb"
)

// Compression values.
const (
	CompressionGzip = "gzip"
	// CompressionZstd is smaller and faster than gzip; the receiver must accept zstd (the
	// OpenTelemetry Collector's does).
	CompressionZstd = "zstd"
	CompressionNone = "none"
)

// Config is an [exporters.otlp[/name]] section.
type Config struct {
	// Endpoint is the collector's host:port, or a URL: http://host:port is plaintext,
	// https://host:port is TLS; a bare host:port follows tls.insecure (the OpenTelemetry
	// convention).
	Endpoint string `toml:"endpoint"`
	// Endpoints are several collectors (host:port) to balance across with Balancer; set
	// Endpoint or Endpoints, not both. Balancer may instead find the endpoints itself
	// (balancer.endpoints with weights, balancer.dns, balancer.file).
	Endpoints []string `toml:"endpoints"`
	// Balancer picks an endpoint for each attempt, fails over and tracks health; used when
	// there are several endpoints (see docs/load-balancing.md).
	Balancer lb.Config      `toml:"balancer"`
	TLS      clientconf.TLS `toml:"tls"`
	// Headers go with every request as gRPC metadata (e.g. authorization); never logged.
	Headers     clientconf.Headers `toml:"headers" secret:"true"`
	Compression string             `toml:"compression"`
	// Timeout bounds each attempt.
	Timeout   time.Duration `toml:"timeout"`
	Keepalive Keepalive     `toml:"keepalive"`
	// WaitForReady makes an attempt wait for the connection instead of failing at once while
	// the endpoint is unreachable (the attempt's timeout still applies).
	WaitForReady bool `toml:"wait_for_ready"`
	// UnhealthyAfter is how long every attempt must fail before /ready reports the exporter
	// as failing.
	UnhealthyAfter time.Duration      `toml:"unhealthy_after"`
	Queue          sender.QueueConfig `toml:"sending_queue"`
	Retry          sender.RetryConfig `toml:"retry"`
}

// Keepalive is [...keepalive]: HTTP/2 pings that detect dead connections.
type Keepalive struct {
	// Time between pings on an idle connection; 0 disables keepalive. gRPC enforces >= 10s.
	Time time.Duration `toml:"time"`
	// Timeout to wait for a ping's answer before closing the connection.
	Timeout time.Duration `toml:"timeout"`
	// PermitWithoutStream pings even with no request in flight.
	PermitWithoutStream bool `toml:"permit_without_stream"`
}

// NewDefaultConfig: gzip, 10s per attempt, TLS with the system roots, the default queue and retry.
func NewDefaultConfig() Config {
	return Config{
		Compression:    CompressionGzip,
		Timeout:        10 * time.Second,
		Keepalive:      Keepalive{Timeout: 10 * time.Second},
		UnhealthyAfter: 30 * time.Second,
		Balancer:       lb.NewDefaultConfig(),
		Queue:          sender.NewDefaultQueueConfig(),
		Retry:          sender.NewDefaultRetryConfig(),
	}
}

// Balanced reports whether the exporter balances across several endpoints.
func (c Config) Balanced() bool {
	b := c.Balancer
	return len(c.Endpoints) > 0 || len(b.Endpoints) > 0 || b.DNS.Name != "" || b.File.Path != ""
}

// BalancerConfig is the load balancer's configuration, endpoints included.
func (c Config) BalancerConfig() lb.Config {
	b := c.Balancer
	if len(c.Endpoints) > 0 {
		b.Endpoints = make([]lb.EndpointSpec, len(c.Endpoints))
		for i, ep := range c.Endpoints {
			addr, _ := c.Target(ep)
			b.Endpoints[i] = lb.EndpointSpec{Address: addr}
		}
	}
	return b
}

// Target splits an endpoint into the host:port to dial and whether the connection is
// plaintext: http:// is plaintext, https:// is TLS, and a bare host:port follows tls.insecure.
func (c Config) Target(ep string) (addr string, plaintext bool) {
	if rest, ok := strings.CutPrefix(ep, "http://"); ok {
		return strings.TrimSuffix(rest, "/"), true
	}
	if rest, ok := strings.CutPrefix(ep, "https://"); ok {
		return strings.TrimSuffix(rest, "/"), false
	}
	return ep, c.TLS.Insecure
}

// plaintext reports, per balancer address, whether it is dialled without TLS.
func (c Config) plaintext() map[string]bool {
	m := map[string]bool{}
	for _, ep := range append([]string{c.Endpoint}, c.Endpoints...) {
		if ep != "" {
			addr, pt := c.Target(ep)
			m[addr] = pt
		}
	}
	return m
}

// Validate reports the first invalid key.
func (c Config) Validate() error {
	if err := c.validateEndpoints(); err != nil {
		return err
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	if err := c.Headers.Validate(); err != nil {
		return err
	}
	switch {
	case c.Compression != CompressionGzip && c.Compression != CompressionZstd && c.Compression != CompressionNone:
		return fmt.Errorf("compression: %q is not one of %s, %s, %s", c.Compression, CompressionGzip, CompressionZstd, CompressionNone)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout: must be > 0, got %s", c.Timeout)
	case c.UnhealthyAfter < 0:
		return fmt.Errorf("unhealthy_after: must be >= 0, got %s", c.UnhealthyAfter)
	case c.Keepalive.Time < 0:
		return fmt.Errorf("keepalive.time: must be >= 0, got %s", c.Keepalive.Time)
	case c.Keepalive.Time > 0 && c.Keepalive.Time < 10*time.Second:
		return fmt.Errorf("keepalive.time: must be 0 (off) or >= 10s, got %s", c.Keepalive.Time)
	case c.Keepalive.Timeout < 0:
		return fmt.Errorf("keepalive.timeout: must be >= 0, got %s", c.Keepalive.Timeout)
	}
	return sender.Config{Queue: c.Queue, Retry: c.Retry}.Validate()
}

// validateEndpoints checks that exactly one endpoint source is set, and the balancer when
// there are several endpoints.
func (c Config) validateEndpoints() error {
	b := c.Balancer
	sources := 0
	for _, set := range []bool{c.Endpoint != "", len(c.Endpoints) > 0, len(b.Endpoints) > 0, b.DNS.Name != "", b.File.Path != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		return errors.New("endpoint: required (host:port), or endpoints = [...] for several collectors")
	case sources > 1:
		return errors.New("endpoint: set one of endpoint, endpoints, balancer.endpoints, balancer.dns.name or balancer.file.path")
	case c.Endpoint != "":
		return c.validateEndpoint(c.Endpoint)
	}
	for i, ep := range c.Endpoints {
		if err := c.validateEndpoint(ep); err != nil {
			return fmt.Errorf("endpoints[%d]%s", i, strings.TrimPrefix(err.Error(), "endpoint"))
		}
	}
	if err := c.BalancerConfig().Validate(); err != nil {
		return fmt.Errorf("balancer.%w", err)
	}
	return nil
}

func (c Config) validateEndpoint(ep string) error {
	if ep == "" {
		return errors.New("endpoint: required (host:port)")
	}
	if strings.HasPrefix(ep, "https://") && c.TLS.Insecure {
		return fmt.Errorf("endpoint: %q asks for TLS but tls.insecure is set; use http:// for plaintext", ep)
	}
	if strings.HasPrefix(ep, "http://") && (c.TLS.CAFile != "" || c.TLS.CertFile != "") {
		return fmt.Errorf("endpoint: %q is plaintext (http://) but tls files are set; use https:// for TLS", ep)
	}
	addr, _ := c.Target(ep)
	if strings.Contains(addr, "://") {
		return fmt.Errorf("endpoint: want host:port, http://host:port (plaintext) or https://host:port (TLS), got %q", ep)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("endpoint: %q is not host:port: %w", ep, err)
	}
	if host == "" || port == "" {
		return fmt.Errorf("endpoint: %q is not host:port", ep)
	}
	return nil
}
