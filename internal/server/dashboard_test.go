package server

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/testutil"
)

// TestDashboardSeriesExistAtStartup: every series the shipped Grafana dashboard sums or divides
// exists, at 0, on a server that has received nothing yet, with the labels its queries group by,
// so that a healthy idle server's panels read 0 instead of "No data".
func TestDashboardSeriesExistAtStartup(t *testing.T) {
	s := newStartedServer(t, forwardConfig(testutil.NewSink(t).GRPCAddr, ""))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	families, err := s.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// The labels of each metric's series.
	have := map[string]map[string]bool{}
	for _, f := range families {
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		have[f.GetName()] = labels
	}
	dash, err := os.ReadFile("../../deploy/grafana/otlp-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	// sum by (a, b) (rate(metric{...})) or a bare metric{...}.
	expr := regexp.MustCompile(`(?:by \(([a-z_, ]+)\) \()?(?:histogram_quantile\([0-9.]+, sum by \(le\) \()?(?:rate\()?((?:otlp|process|go)_[a-z_]+)\{`)
	found := expr.FindAllStringSubmatch(string(dash), -1)
	if len(found) < 10 {
		t.Fatalf("found %d queries in the dashboard", len(found))
	}
	for _, q := range found {
		name := strings.TrimSuffix(q[2], "_bucket")
		labels, ok := have[name]
		if !ok {
			t.Errorf("dashboard queries %s, which an idle server does not expose yet", name)
			continue
		}
		for _, l := range strings.Split(q[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !labels[l] {
				t.Errorf("dashboard groups %s by %s, which no series of an idle server has", name, l)
			}
		}
	}
}
