package nop

import (
	"context"

	"github.com/otlp-dev/otlp/internal/component"
)

// NewFactory returns the factory of the "nop" exporter.
func NewFactory() component.ExporterFactory {
	return component.NewExporterFactory("nop", component.AllSignals,
		func() *Config { c := NewDefaultConfig(); return &c },
		func(_ context.Context, set component.Settings, cfg *Config) (component.Exporter, error) {
			return New(*cfg, Settings{Name: set.ID, Metrics: set.Metrics})
		})
}
