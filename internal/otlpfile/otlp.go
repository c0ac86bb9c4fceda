// Package otlpfile holds what the server and the Go SDK both read of a configuration file:
// the [otlp] section's shape and the watch of the file. It imports nothing of the server, so
// the SDK can use it without linking receivers, processors or the admin port.
package otlpfile

import (
	"time"

	"github.com/otlp-dev/otlp/resilience"
)

// OTLP is the [otlp] section: process-wide settings and the default upstream.
type OTLP struct {
	Environment string    `toml:"environment"`
	ServiceName string    `toml:"service_name"`
	LogLevel    string    `toml:"log_level"`  // debug, info, warn, error
	LogFormat   string    `toml:"log_format"` // text, json
	Transport   Transport `toml:"transport"`
	// Resilience is the [otlp.resilience] section: the default retry, circuit breaker and
	// timeout policies, and named policies (see docs/resilience.md).
	Resilience resilience.Config `toml:"resilience"`
	// ShutdownTimeout bounds the drain on SIGTERM.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
	// GCPercent is the Go garbage collector's target (GOGC), unless the GOGC environment
	// variable is set. The live heap is mostly recycled, pointer-free batch buffers, so a
	// lower target than Go's 100 costs little CPU and keeps the resident set smaller.
	GCPercent int `toml:"gc_percent"`
	// ListenHost replaces the host of every listen address left at its default (the OTLP
	// receivers' and the admin port's), which is localhost: "0.0.0.0" or "::" receives on
	// all interfaces, as containers need.
	ListenHost string `toml:"listen_host"`
}

// Transport is [otlp.transport]: the upstream that default pipelines forward to.
type Transport struct {
	Protocol      string            `toml:"protocol"` // grpc or http
	Endpoints     []string          `toml:"endpoints"`
	Timeout       time.Duration     `toml:"timeout"`
	RetryAttempts int               `toml:"retry_attempts"`
	Compression   string            `toml:"compression"`
	Insecure      bool              `toml:"insecure"`
	Headers       map[string]string `toml:"headers" secret:"true"`
	// QueueDir, when set, gives the upstream exporter a durable disk queue in this directory
	// (the agent's default: "otlp-agent-queue").
	QueueDir string `toml:"queue_dir"`
}
