package otlphttp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/otlp-dev/otlp/internal/exporter/clientconf"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
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
	// Encoding is "proto" (the request bytes as they are) or "json" (OTLP/JSON).
	Encoding    string `toml:"encoding"`
	Compression string `toml:"compression"`
	// Headers go with every request (e.g. authorization); never logged.
	Headers clientconf.Headers `toml:"headers"`
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
		UnhealthyAfter: 30 * time.Second,
	}
}

// Validate reports the first invalid key.
func (c Config) Validate() error {
	if c.Endpoint == "" && (c.TracesEndpoint == "" || c.MetricsEndpoint == "" || c.LogsEndpoint == "") {
		return errors.New("endpoint: required unless traces_endpoint, metrics_endpoint and logs_endpoint are all set")
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
