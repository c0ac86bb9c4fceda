package otlphttp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/otlp-dev/otlp/internal/exporter/clientconf"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Encoding and compression values.
const (
	EncodingProto   = "proto"
	EncodingJSON    = "json"
	CompressionGzip = "gzip"
	// CompressionZstd is smaller and faster than gzip; the receiver must accept
	// Content-Encoding zstd (the OpenTelemetry Collector's does).
	CompressionZstd = "zstd"
	CompressionNone = "none"
)

// Config is an [exporters.otlphttp[/name]] section.
type Config struct {
	// Endpoint is the base URL ("https://collector:4318"); signals go to /v1/traces,
	// /v1/metrics and /v1/logs below it unless their own URL is set.
	Endpoint        string `toml:"endpoint"`
	TracesEndpoint  string `toml:"traces_endpoint"`
	MetricsEndpoint string `toml:"metrics_endpoint"`
	LogsEndpoint    string `toml:"logs_endpoint"`
	// Endpoints are the base URLs of several collectors to balance across with Balancer; set
	// Endpoint or Endpoints, not both. Balancer may instead find the endpoints itself
	// (balancer.endpoints, balancer.dns, balancer.file give host:port; the URL is
	// https://host:port, or http:// with tls.insecure).
	Endpoints []string `toml:"endpoints"`
	// Balancer picks an endpoint for each attempt, fails over and tracks health; used when
	// there are several endpoints (see docs/load-balancing.md).
	Balancer lb.Config `toml:"balancer"`
	// Encoding is "proto" (the request bytes as they are) or "json" (OTLP/JSON).
	Encoding    string `toml:"encoding"`
	Compression string `toml:"compression"`
	// Headers go with every request (e.g. authorization); never logged.
	Headers clientconf.Headers `toml:"headers" secret:"true"`
	// TLS applies to https URLs; the scheme decides whether TLS is used.
	TLS clientconf.TLS `toml:"tls"`
	// Timeout bounds each attempt.
	Timeout time.Duration `toml:"timeout"`
	// UnhealthyAfter is how long every attempt must fail before /ready reports the exporter
	// as failing.
	UnhealthyAfter time.Duration      `toml:"unhealthy_after"`
	Queue          sender.QueueConfig `toml:"sending_queue"`
	Retry          sender.RetryConfig `toml:"retry"`
}

// NewDefaultConfig: protobuf, gzip, 10s per attempt, the default queue and retry.
func NewDefaultConfig() Config {
	return Config{
		Encoding: EncodingProto, Compression: CompressionGzip, Timeout: 10 * time.Second,
		Queue: sender.NewDefaultQueueConfig(), Retry: sender.NewDefaultRetryConfig(),
		UnhealthyAfter: 30 * time.Second, Balancer: lb.NewDefaultConfig(),
	}
}

// Balanced reports whether the exporter balances across several endpoints.
func (c Config) Balanced() bool {
	b := c.Balancer
	return len(c.Endpoints) > 0 || len(b.Endpoints) > 0 || b.DNS.Name != "" || b.File.Path != ""
}

// BalancerConfig is the load balancer's configuration, endpoints (host:port) included.
func (c Config) BalancerConfig() lb.Config {
	b := c.Balancer
	if len(c.Endpoints) > 0 {
		b.Endpoints = nil
		for _, u := range c.Endpoints {
			addr, _, err := baseURL(u)
			if err != nil {
				addr = u // Validate reports it
			}
			b.Endpoints = append(b.Endpoints, lb.EndpointSpec{Address: addr})
		}
	}
	return b
}

// baseURLs maps the balancer address (host:port) of every listed endpoint to its base URL.
func (c Config) baseURLs() map[string]string {
	m := make(map[string]string, len(c.Endpoints))
	for _, u := range c.Endpoints {
		if addr, base, err := baseURL(u); err == nil {
			m[addr] = base
		}
	}
	return m
}

// discoveredURL is the base URL of an endpoint found by the balancer's own source.
func (c Config) discoveredURL(addr string) string {
	if c.TLS.Insecure {
		return "http://" + addr
	}
	return "https://" + addr
}

// baseURL parses an endpoints entry into its balancer address and its base URL without a
// trailing slash. A URL without a port gets its scheme's.
func baseURL(s string) (addr, base string, err error) {
	u, err := parseURL(s)
	if err != nil {
		return "", "", err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port), strings.TrimSuffix(s, "/"), nil
}

// validateBalanced checks the endpoints and the balancer of a balanced exporter.
func (c Config) validateBalanced() error {
	b := c.Balancer
	sources := 0
	for _, set := range []bool{c.Endpoint != "", len(c.Endpoints) > 0, len(b.Endpoints) > 0, b.DNS.Name != "", b.File.Path != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return errors.New("endpoint: set one of endpoint, endpoints, balancer.endpoints, balancer.dns.name or balancer.file.path")
	}
	if c.TracesEndpoint != "" || c.MetricsEndpoint != "" || c.LogsEndpoint != "" {
		return errors.New("traces_endpoint: per-signal URLs cannot be combined with several endpoints")
	}
	seen := map[string]int{}
	for i, u := range c.Endpoints {
		addr, _, err := baseURL(u)
		if err != nil {
			return fmt.Errorf("endpoints[%d]: %w", i, err)
		}
		if c.TLS.Insecure && strings.HasPrefix(u, "https:") {
			return fmt.Errorf("tls.insecure: endpoints[%d] is https; use an http:// URL for clear text", i)
		}
		if j, dup := seen[addr]; dup {
			return fmt.Errorf("endpoints[%d]: %s has the same host and port as endpoints[%d]", i, u, j)
		}
		seen[addr] = i
	}
	if err := c.BalancerConfig().Validate(); err != nil {
		return fmt.Errorf("balancer.%w", err)
	}
	return nil
}

// Validate reports the first invalid key.
func (c Config) Validate() error {
	if c.Balanced() {
		if err := c.validateBalanced(); err != nil {
			return err
		}
	} else if c.Endpoint == "" && (c.TracesEndpoint == "" || c.MetricsEndpoint == "" || c.LogsEndpoint == "") {
		return errors.New("endpoint: required unless traces_endpoint, metrics_endpoint and logs_endpoint are all set, or endpoints for several collectors")
	}
	for _, kv := range [...]struct{ key, url string }{
		{"endpoint", c.Endpoint}, {"traces_endpoint", c.TracesEndpoint},
		{"metrics_endpoint", c.MetricsEndpoint}, {"logs_endpoint", c.LogsEndpoint},
	} {
		if kv.url == "" {
			continue
		}
		u, err := parseURL(kv.url)
		if err != nil {
			return fmt.Errorf("%s: %w", kv.key, err)
		}
		if c.TLS.Insecure && u.Scheme == "https" {
			return fmt.Errorf("tls.insecure: %s is https; use an http:// URL for clear text", kv.key)
		}
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	if err := c.Headers.Validate(); err != nil {
		return err
	}
	switch {
	case c.Encoding != EncodingProto && c.Encoding != EncodingJSON:
		return fmt.Errorf("encoding: %q is neither %s nor %s", c.Encoding, EncodingProto, EncodingJSON)
	case c.Compression != CompressionGzip && c.Compression != CompressionZstd && c.Compression != CompressionNone:
		return fmt.Errorf("compression: %q is not one of %s, %s, %s", c.Compression, CompressionGzip, CompressionZstd, CompressionNone)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout: must be > 0, got %s", c.Timeout)
	case c.UnhealthyAfter < 0:
		return fmt.Errorf("unhealthy_after: must be >= 0, got %s", c.UnhealthyAfter)
	}
	return sender.Config{Queue: c.Queue, Retry: c.Retry}.Validate()
}

func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("want an http:// or https:// URL, got %q", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", s)
	}
	return u, nil
}

// signalURL is where sig's requests go.
func (c Config) signalURL(sig pipeline.Signal) string {
	var own string
	switch sig {
	case pipeline.SignalTraces:
		own = c.TracesEndpoint
	case pipeline.SignalMetrics:
		own = c.MetricsEndpoint
	case pipeline.SignalLogs:
		own = c.LogsEndpoint
	}
	if own != "" {
		return own
	}
	return strings.TrimSuffix(c.Endpoint, "/") + "/v1/" + sig.String()
}
