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
	"strings"

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

// hint says what the agent runs without a file, as the environment set it.
func hint(c *config.Config) string {
	upstream := "no collector (OTLP_COLLECTOR_ENDPOINT unset): debug output"
	if eps := c.OTLP.Transport.Endpoints; len(eps) > 0 {
		upstream = "collectors " + strings.Join(eps, ", ")
	}
	return fmt.Sprintf("no configuration file: OTLP/gRPC and OTLP/HTTP receivers (addresses follow), host metrics, disk queue in %s, %s",
		c.OTLP.Transport.QueueDir, upstream)
}

func runMain(args []string, stdout, stderr io.Writer) error {
	return app.Program{
		Name: "otlp-agent", Version: version, Profile: config.ProfileAgent,
		DefaultsHint: hint,
	}.Run(args, stdout, stderr)
}
