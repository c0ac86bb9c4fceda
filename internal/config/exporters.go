package config

import (
	"slices"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/otlphttp"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/resilience"
)

// transportExporter builds the default pipelines' upstream exporter from [otlp.transport].
func transportExporter(t Transport) Exporter {
	eps := slices.Clone(t.Endpoints) // normalised below; the user's list stays as written
	if t.Protocol == "http" {
		cfg := otlphttp.NewDefaultConfig()
		applyTransport(t, eps, &cfg.Endpoint, &cfg.Endpoints, &cfg.Queue, &cfg.Timeout, &cfg.TLS.Insecure, &cfg.Compression, &cfg.Retry)
		cfg.Headers = t.Headers
		return Exporter{Type: "otlphttp", Config: &cfg}
	}
	// gRPC endpoints are host:port (TLS unless insecure), http://host:port (plaintext) or
	// https://host:port (TLS): the exporter reads the scheme.
	cfg := otlpgrpc.NewDefaultConfig()
	applyTransport(t, eps, &cfg.Endpoint, &cfg.Endpoints, &cfg.Queue, &cfg.Timeout, &cfg.TLS.Insecure, &cfg.Compression, &cfg.Retry)
	cfg.Headers = t.Headers
	return Exporter{Type: "otlp", Config: &cfg}
}

// applyTransport sets the fields both network exporters share from the transport section.
func applyTransport(t Transport, eps []string, endpoint *string, endpoints *[]string, q *sender.QueueConfig,
	timeout *time.Duration, insecure *bool, compression *string, retry *sender.RetryConfig) {
	if len(eps) == 1 {
		*endpoint = eps[0]
	} else {
		*endpoints = eps
	}
	if t.QueueDir != "" {
		// Batch after the disk queue: senders are acknowledged once their request is on disk.
		q.Storage, q.Disk.Dir, q.Batch.Enabled = sender.StorageDisk, t.QueueDir, true
	}
	*timeout, *insecure = t.Timeout, t.Insecure
	if t.Compression != "" {
		*compression = t.Compression
	}
	retry.MaxAttempts = t.RetryAttempts
}

// applyResilienceDefaults lets the seed's [otlp.resilience] section set the retry and
// per-attempt timeout of network exporters that have no [exporters.X.retry] table or timeout
// key of their own. Only keys the file really sets are applied: the resilience package's
// defaults give up after a few attempts, which an exporter must not do unless asked to.
func applyResilienceDefaults(c *Config, r resilience.Config, md toml.MetaData) {
	retrySet := md.IsDefined("otlp", "resilience", "retry")
	writeSet := md.IsDefined("otlp", "resilience", "timeout", "write")
	for name, e := range c.Exporters {
		d, ok := e.Config.(sender.Deliverer)
		if !ok {
			continue
		}
		del := d.Delivery()
		retry, timeout := del.Retry, del.Timeout
		if retrySet && !md.IsDefined("exporters", name, "retry") {
			rc := r.Retry
			retry.Enabled = !rc.Disabled
			for _, k := range []struct {
				key string
				set func()
			}{
				{"max_attempts", func() { retry.MaxAttempts = rc.MaxAttempts }},
				{"max_elapsed", func() { retry.MaxElapsedTime = rc.MaxElapsed }},
				{"base_delay", func() { retry.InitialInterval = rc.BaseDelay }},
				{"max_delay", func() { retry.MaxInterval = rc.MaxDelay }},
				{"multiplier", func() { retry.Multiplier = rc.Multiplier }},
				{"jitter", func() { retry.RandomizationFactor = rc.Jitter }},
			} {
				if md.IsDefined("otlp", "resilience", "retry", k.key) {
					k.set()
				}
			}
			if retry.MaxInterval < retry.InitialInterval {
				retry.MaxInterval = retry.InitialInterval
			}
		}
		if cb := del.Breaker; cb != nil && !md.IsDefined("exporters", name, "balancer", "circuit_breaker") {
			if md.IsDefined("otlp", "resilience", "circuit_breaker", "failure_threshold") {
				cb.FailureThreshold = r.CircuitBreaker.FailureThreshold
			}
			if md.IsDefined("otlp", "resilience", "circuit_breaker", "recovery_timeout") {
				cb.RecoveryTimeout = r.CircuitBreaker.RecoveryTimeout
			}
		}
		if writeSet && !md.IsDefined("exporters", name, "timeout") {
			*timeout = r.Timeout.Write
		}
		c.Exporters[name] = e
	}
}
