package config

import (
	"time"

	"github.com/BurntSushi/toml"

	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/otlphttp"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/resilience"
)

// exporter builds the default pipelines' upstream exporter from [otlp.transport].
func (t Transport) exporter() Exporter {
	endpoint := ""
	if len(t.Endpoints) > 0 {
		endpoint = t.Endpoints[0]
	}
	if t.Protocol == "http" {
		cfg := otlphttp.NewDefaultConfig()
		cfg.Endpoint = endpoint
		cfg.Timeout = t.Timeout
		cfg.TLS.Insecure = t.Insecure
		if t.Compression != "" {
			cfg.Compression = t.Compression
		}
		cfg.Headers = t.Headers
		cfg.Retry.MaxAttempts = t.RetryAttempts
		return Exporter{Type: "otlphttp", OTLPHTTP: &cfg}
	}
	cfg := otlpgrpc.NewDefaultConfig()
	cfg.Endpoint = endpoint
	cfg.Timeout = t.Timeout
	cfg.TLS.Insecure = t.Insecure
	if t.Compression != "" {
		cfg.Compression = t.Compression
	}
	cfg.Headers = t.Headers
	cfg.Retry.MaxAttempts = t.RetryAttempts
	return Exporter{Type: "otlp", OTLP: &cfg}
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
		if writeSet && !md.IsDefined("exporters", name, "timeout") {
			*timeout = r.Timeout.Write
		}
		c.Exporters[name] = e
	}
}
