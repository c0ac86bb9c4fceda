package nop_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/exporter/nop"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCountsExported(t *testing.T) {
	m := selftel.New()
	exp, err := nop.New(nop.NewDefaultConfig(), nop.Settings{Name: "nop", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	_ = exp.Start(t.Context())
	if err := exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 7, 0))); err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.MetricValue(t, m.Registry, "otlp_exported_spans_total", "exporter", "nop"); n != 7 {
		t.Errorf("exported %v, want 7", n)
	}
}
