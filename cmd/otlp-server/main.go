// Command otlp-server is the OTLP collector: it receives traces, metrics and logs over OTLP
// gRPC and HTTP, runs them through pipelines and forwards them to exporters.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/otlp-dev/otlp/internal/app"
	"github.com/otlp-dev/otlp/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := runMain(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "otlp-server:", err)
		os.Exit(1)
	}
}

func runMain(args []string, stdout, stderr io.Writer) error {
	return app.Program{
		Name: "otlp-server", Version: version, Profile: config.ProfileServer,
		DefaultsHint: func(*config.Config) string {
			return "no configuration file: using built-in defaults (OTLP/gRPC and OTLP/HTTP receivers, debug exporter, admin port; their addresses follow)"
		},
	}.Run(args, stdout, stderr)
}
