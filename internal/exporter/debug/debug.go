// Package debug logs what passes through a pipeline: one line per batch, or with verbosity
// "detailed" one more line per span, data point or log record. It is the exporter used when
// no configuration exists.
package debug

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/otlp-dev/otlp/internal/exporter/otlpmsg"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// Verbosity values.
const (
	VerbosityBasic    = "basic"
	VerbosityDetailed = "detailed"
)

// Config is an [exporters.debug[/name]] section.
type Config struct {
	// Verbosity is "basic" (one line per batch) or "detailed" (also every item).
	Verbosity string `toml:"verbosity"`
}

// NewDefaultConfig logs one line per batch.
func NewDefaultConfig() Config { return Config{Verbosity: VerbosityBasic} }

// Validate reports an unknown verbosity.
func (c Config) Validate() error {
	if c.Verbosity != VerbosityBasic && c.Verbosity != VerbosityDetailed {
		return fmt.Errorf("verbosity: %q is neither %s nor %s", c.Verbosity, VerbosityBasic, VerbosityDetailed)
	}
	return nil
}

// Settings are injected by the server.
type Settings struct {
	Name    string
	Logger  *slog.Logger
	Metrics *selftel.Metrics
}

// Exporter logs batches.
type Exporter struct {
	cfg Config
	set Settings
	log *slog.Logger
}

// New returns a debug exporter.
func New(cfg Config, set Settings) (*Exporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	return &Exporter{cfg: cfg, set: set, log: set.Logger}, nil
}

// Start does nothing.
func (*Exporter) Start(context.Context) error { return nil }

// Shutdown does nothing: every line was written by Consume.
func (*Exporter) Shutdown(context.Context) error { return nil }

// Consume logs b. A body that does not decode is a permanent error, counted dropped.
func (e *Exporter) Consume(ctx context.Context, b pipeline.Batch) error {
	resources, err := otlpmsg.CountResources(b.Body)
	if err == nil && e.cfg.Verbosity == VerbosityDetailed {
		var req otlpmsg.Request
		if req, err = otlpmsg.Decode(b.Signal, b.Body); err == nil {
			e.logItems(ctx, req)
		}
	}
	if err != nil {
		e.set.Metrics.Dropped(b.Signal, selftel.ReasonExportFailed, b.Items)
		return resilience.Permanent(fmt.Errorf("debug: %w", err))
	}
	e.log.InfoContext(ctx, "batch", "signal", b.Signal.String(), "items", b.Items,
		"resources", resources, "bytes", len(b.Body))
	e.set.Metrics.Exported(b.Signal, e.set.Name, b.Items)
	return nil
}
