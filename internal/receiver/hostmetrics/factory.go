package hostmetrics

import (
	"context"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// NewFactory returns the factory of the "hostmetrics" receiver.
func NewFactory() component.ReceiverFactory {
	return component.NewReceiverFactory("hostmetrics", []pipeline.Signal{pipeline.SignalMetrics},
		func() *Config { c := NewDefaultConfig(); return &c },
		func(_ context.Context, set component.Settings, cfg *Config, next component.Consumers) (component.Receiver, error) {
			cons := next.Get(pipeline.SignalMetrics)
			if cons == nil {
				return nil, nil // in no pipeline: nothing to collect for
			}
			return New(*cfg, Settings{Logger: set.Logger, Metrics: set.Metrics, Consumer: cons, Resource: set.Resource})
		})
}
