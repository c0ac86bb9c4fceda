package server

import (
	"fmt"
	"log/slog"

	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/exporter/debug"
	"github.com/otlp-dev/otlp/internal/exporter/file"
	"github.com/otlp-dev/otlp/internal/exporter/nop"
	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/otlphttp"
	"github.com/otlp-dev/otlp/internal/selftel"
)

// newExporter builds the exporter a config entry describes.
func newExporter(name string, e config.Exporter, log *slog.Logger, m *selftel.Metrics) (component, error) {
	switch {
	case e.OTLP != nil:
		return otlpgrpc.New(*e.OTLP, otlpgrpc.Settings{Name: name, Logger: log, Metrics: m})
	case e.OTLPHTTP != nil:
		return otlphttp.New(*e.OTLPHTTP, otlphttp.Settings{Name: name, Logger: log, Metrics: m})
	case e.Debug != nil:
		return debug.New(*e.Debug, debug.Settings{Name: name, Logger: log, Metrics: m})
	case e.File != nil:
		return file.New(*e.File, file.Settings{Name: name, Logger: log, Metrics: m})
	case e.Nop != nil:
		return nop.New(*e.Nop, nop.Settings{Name: name, Metrics: m})
	}
	return nil, fmt.Errorf("unknown exporter type %q", e.Type)
}
