// Package nop is an exporter that accepts and discards every batch, counting it exported.
// It is for benchmarks and for pipelines whose only purpose is a side effect upstream.
package nop

import (
	"context"
	"log/slog"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

// Config is an [exporters.nop[/name]] section; it has no keys.
type Config struct{}

// NewDefaultConfig returns the (empty) configuration.
func NewDefaultConfig() Config { return Config{} }

// Validate accepts everything.
func (Config) Validate() error { return nil }

// Settings are injected by the server.
type Settings struct {
	Name    string
	Logger  *slog.Logger
	Metrics *selftel.Metrics
}

// Exporter discards batches.
type Exporter struct{ set Settings }

// New returns a nop exporter.
func New(_ Config, set Settings) (*Exporter, error) { return &Exporter{set: set}, nil }

// Start does nothing.
func (*Exporter) Start(context.Context) error { return nil }

// Shutdown does nothing.
func (*Exporter) Shutdown(context.Context) error { return nil }

// Consume counts b as exported.
func (e *Exporter) Consume(_ context.Context, b pipeline.Batch) error {
	e.set.Metrics.Exported(b.Signal, e.set.Name, b.Items)
	return nil
}
