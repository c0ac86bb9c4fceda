package otlpgrpc

import (
	"context"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
)

// NewFactory returns the factory of the "otlp" exporter.
func NewFactory() component.ExporterFactory {
	return component.NewExporterFactory("otlp", component.AllSignals,
		func() *Config { c := NewDefaultConfig(); return &c },
		func(_ context.Context, set component.Settings, cfg *Config) (component.Exporter, error) {
			return New(*cfg, Settings{Name: set.ID, Logger: set.Logger, Metrics: set.Metrics})
		})
}

// Delivery points at the retry, timeout, circuit breaker and queue settings.
func (c *Config) Delivery() sender.Delivery {
	return sender.Delivery{Retry: &c.Retry, Timeout: &c.Timeout, Breaker: &c.Balancer.CircuitBreaker, Queue: &c.Queue}
}
