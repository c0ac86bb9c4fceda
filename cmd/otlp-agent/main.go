// Command otlp-agent is the edge forwarder: it receives OTLP locally, collects its node's host
// metrics, keeps everything in a durable disk queue until a collector acknowledged it, and
// balances and fails over across collectors.
//
// It is otlp-server with the agent's defaults (config.ProfileAgent): a file may configure it
// with every key of the server.
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
		fmt.Fprintln(os.Stderr, "otlp-agent:", err)
		os.Exit(1)
	}
}

func runMain(args []string, stdout, stderr io.Writer) error {
	return app.Program{
		Name: "otlp-agent", Version: version, Profile: config.ProfileAgent,
		DefaultsHint: "no configuration file: OTLP/gRPC and OTLP/HTTP receivers (addresses follow), host metrics, disk queue in ./" +
			config.DefaultAgentQueueDir + ", collectors from OTLP_COLLECTOR_ENDPOINT (debug output when unset)",
	}.Run(args, stdout, stderr)
}
