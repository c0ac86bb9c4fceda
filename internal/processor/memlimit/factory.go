package memlimit

import (
	"context"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// NewFactory returns the factory of the "memory_limiter" processor. Every limiter it creates
// shares one owner of the Go runtime's memory limit, so a host makes one factory per process
// run (one server).
func NewFactory() component.ProcessorFactory {
	goLimit := NewGoLimit()
	return component.NewProcessorFactory("memory_limiter", component.AllSignals,
		func() *Config { c := NewDefaultConfig(); return &c },
		func(_ context.Context, set component.PipelineSettings, cfg *Config, next pipeline.Consumer) (component.Processor, error) {
			return New(*cfg, Settings{Name: set.Pipeline, Logger: set.Logger, Metrics: set.Metrics, GoLimit: goLimit}, next)
		})
}
