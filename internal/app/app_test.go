package app

import (
	"io"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/otlp-dev/otlp/internal/config"
)

func TestGCPercentFromConfigUnlessGOGCIsSet(t *testing.T) {
	cfg := config.Default()
	cfg.OTLP.GCPercent = 70
	t.Setenv("GOGC", "") // restored after the test
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	setGCPercent(cfg)
	if got := debug.SetGCPercent(100); got != 70 {
		t.Fatalf("GC percent %d after setGCPercent, want gc_percent 70", got)
	}
	t.Setenv("GOGC", "200")
	setGCPercent(cfg)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent %d with GOGC set, want it left alone (100)", got)
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var stdout, stderr strings.Builder
		err := Program{Name: "otlp-server"}.Run([]string{arg}, &stdout, &stderr)
		if err != nil {
			t.Errorf("%s: %v, want nil (exit 0)", arg, err)
		}
		if !strings.Contains(stderr.String(), "-check-config") {
			t.Errorf("%s printed %q, want the flags", arg, stderr.String())
		}
	}
	if err := (Program{Name: "otlp-server"}).Run([]string{"--no-such-flag"}, io.Discard, io.Discard); err == nil {
		t.Error("an unknown flag is not an error")
	}
}
