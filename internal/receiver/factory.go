package receiver

import (
	"context"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// NewFactory returns the factory of the "otlp" receiver: OTLP over gRPC and HTTP, every signal.
func NewFactory() component.ReceiverFactory {
	return component.NewReceiverFactory("otlp", component.AllSignals,
		func() *Config { c := NewDefaultConfig(); return &c },
		func(_ context.Context, set component.Settings, cfg *Config, next component.Consumers) (component.Receiver, error) {
			return New(*cfg, Settings{Logger: set.Logger, Metrics: set.Metrics,
				Traces: next.Get(pipeline.SignalTraces), MetricsConsumer: next.Get(pipeline.SignalMetrics), Logs: next.Get(pipeline.SignalLogs)})
		})
}

// Endpoints lists the gRPC and HTTP listen addresses.
func (c *Config) Endpoints() []component.Endpoint {
	return []component.Endpoint{
		{Key: "grpc.endpoint", Addr: &c.GRPC.Endpoint, Default: DefaultGRPCEndpoint},
		{Key: "http.endpoint", Addr: &c.HTTP.Endpoint, Default: DefaultHTTPEndpoint},
	}
}
