package config

import (
	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/otlphttp"
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
