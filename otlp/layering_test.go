package otlp

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSDKLinksNoServerParts: an application that imports the SDK links none of the server
// (config, receivers, processors, the admin port) and nothing that registers handlers on
// http.DefaultServeMux when imported (net/http/pprof).
func TestSDKLinksNoServerParts(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"net/http/pprof",
		"github.com/otlp-dev/otlp/internal/admin",
		"github.com/otlp-dev/otlp/internal/app",
		"github.com/otlp-dev/otlp/internal/config",
		"github.com/otlp-dev/otlp/internal/processor/",
		"github.com/otlp-dev/otlp/internal/receiver",
		"github.com/otlp-dev/otlp/internal/server",
	}
	var linked []string
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f) || strings.HasPrefix(dep, f+"/") {
				linked = append(linked, dep)
			}
		}
	}
	if len(linked) > 0 {
		t.Errorf("package otlp links server parts: %s", strings.Join(linked, " "))
	}
}
