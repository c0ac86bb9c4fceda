// Package forward is the "forward" connector: it passes what one pipeline exports to the
// pipelines that list it as a receiver, unchanged and of the same signal (the Collector's
// forwardconnector). It joins pipelines, e.g. several receivers' pipelines into one shared tail.
package forward

import (
	"context"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Config is empty: forward has no settings.
type Config struct{}

// Validate accepts everything.
func (*Config) Validate() error { return nil }

// NewFactory returns the factory of the "forward" connector.
func NewFactory() component.ConnectorFactory {
	same := map[pipeline.Signal][]pipeline.Signal{}
	for _, s := range pipeline.Signals {
		same[s] = []pipeline.Signal{s}
	}
	return component.NewConnectorFactory("forward", same,
		func() *Config { return &Config{} },
		func(_ context.Context, _ component.Settings, _ *Config, _, _ pipeline.Signal, next component.Routes) (component.Connector, error) {
			return &Connector{next: next.Fanout()}, nil
		})
}

// Connector hands every batch on.
type Connector struct {
	next pipeline.Consumer
}

// Consume passes b to the pipelines fed, which may take ownership of its body as the exporter
// behind a single pipeline would.
func (c *Connector) Consume(ctx context.Context, b pipeline.Batch) error {
	return c.next.Consume(ctx, b)
}

// Start does nothing.
func (*Connector) Start(context.Context) error { return nil }

// Shutdown does nothing: forward holds no data.
func (*Connector) Shutdown(context.Context) error { return nil }
