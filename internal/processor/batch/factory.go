package batch

import (
	"context"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// NewFactory returns the factory of the "batch" processor.
func NewFactory() component.ProcessorFactory {
	return component.NewProcessorFactory("batch", component.AllSignals,
		func() *Config { c := NewDefaultConfig(); return &c },
		func(_ context.Context, set component.PipelineSettings, cfg *Config, next pipeline.Consumer) (component.Processor, error) {
			c := *cfg
			if c.AckAfterFlush == nil {
				// In front of a disk queue, acknowledge only what reached it.
				durable := set.Durable
				c.AckAfterFlush = &durable
			}
			return New(c, Settings{Name: set.Pipeline, Signal: set.Signal, Logger: set.Logger, Metrics: set.Metrics}, next)
		})
}
