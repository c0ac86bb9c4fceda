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
		return Exporter{Type: "otlphttp", OTLPHTTP: &cfg}
	}
	// gRPC endpoints are host:port (TLS unless insecure), http://host:port (plaintext) or
	// https://host:port (TLS): the exporter reads the scheme.
	cfg := otlpgrpc.NewDefaultConfig()
	applyTransport(t, eps, &cfg.Endpoint, &cfg.Endpoints, &cfg.Queue, &cfg.Timeout, &cfg.TLS.Insecure, &cfg.Compression, &cfg.Retry)
	cfg.Headers = t.Headers
	return Exporter{Type: "otlp", OTLP: &cfg}
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

// config is the exporter's decoded configuration, for checks that walk its type.
func (e Exporter) config() any {
	switch {
	case e.OTLP != nil:
		return *e.OTLP
	case e.OTLPHTTP != nil:
		return *e.OTLPHTTP
	case e.Debug != nil:
		return *e.Debug
	case e.File != nil:
		return *e.File
	}
	return *e.Nop
}

// validate checks whichever exporter config is set.
func (e Exporter) validate() error {
	switch {
	case e.OTLP != nil:
		return e.OTLP.Validate()
	case e.OTLPHTTP != nil:
		return e.OTLPHTTP.Validate()
	case e.Debug != nil:
		return e.Debug.Validate()
	case e.File != nil:
		return e.File.Validate()
	case e.Nop != nil:
		return e.Nop.Validate()
	}
	return nil
}

// applyResilienceDefaults lets the seed's [otlp.resilience] section set the retry and
// per-attempt timeout of network exporters that have no [exporters.X.retry] table or timeout
// key of their own. Only keys the file really sets are applied: the resilience package's
// defaults give up after a few attempts, which an exporter must not do unless asked to.
func applyResilienceDefaults(c *Config, r resilience.Config, md toml.MetaData) {
	retrySet := md.IsDefined("otlp", "resilience", "retry")
	writeSet := md.IsDefined("otlp", "resilience", "timeout", "write")
	for name, e := range c.Exporters {
		var retry *sender.RetryConfig
		var timeout *time.Duration
		switch {
		case e.OTLP != nil:
			retry, timeout = &e.OTLP.Retry, &e.OTLP.Timeout
		case e.OTLPHTTP != nil:
			retry, timeout = &e.OTLPHTTP.Retry, &e.OTLPHTTP.Timeout
		default:
			continue
		}
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
		if cb := breakerOf(e); cb != nil && !md.IsDefined("exporters", name, "balancer", "circuit_breaker") {
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

// breakerOf is the per-endpoint circuit breaker configuration of a network exporter.
func breakerOf(e Exporter) *resilience.BreakerConfig {
	switch {
	case e.OTLP != nil:
		return &e.OTLP.Balancer.CircuitBreaker
	case e.OTLPHTTP != nil:
		return &e.OTLPHTTP.Balancer.CircuitBreaker
	}
	return nil
}

// batchesQueue reports whether the exporter merges batches after its sending queue.
func (e Exporter) batchesQueue() bool {
	switch {
	case e.OTLP != nil:
		return e.OTLP.Queue.Enabled && e.OTLP.Queue.Batch.Enabled
	case e.OTLPHTTP != nil:
		return e.OTLPHTTP.Queue.Enabled && e.OTLPHTTP.Queue.Batch.Enabled
	}
	return false
}

// Durable reports whether the exporter keeps a disk queue, so that data is safe once it
// accepted it.
func (e Exporter) Durable() bool {
	switch {
	case e.OTLP != nil:
		return e.OTLP.Queue.Durable()
	case e.OTLPHTTP != nil:
		return e.OTLPHTTP.Queue.Durable()
	}
	return false
}
