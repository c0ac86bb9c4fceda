package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/otlp-dev/otlp/internal/admin"
	"github.com/otlp-dev/otlp/resilience"
)

// resilienceReporter is implemented by exporters whose retry and breaker policies have
// metrics to publish.
type resilienceReporter interface {
	ResilienceMetrics() resilience.Metrics
}

var errExporterFailing = errors.New("every export attempt has been failing")

// newHealth builds the readiness checks of a graph: each exporter (non-critical: one failing
// exporter of several degrades) and each pipeline (critical: a pipeline whose every exporter
// fails makes the server not ready). /ready runs them on demand, so no goroutine is needed.
func newHealth(g *graph) *resilience.HealthChecker {
	h := resilience.NewHealthChecker()
	healthy := func(name string) bool {
		if r, ok := g.exporters[name].exp.(healthReporter); ok {
			return r.Healthy()
		}
		return true
	}
	for _, name := range sortedNames(g.exporters) {
		_ = h.Register("exporter/"+name, func(context.Context) error {
			if !healthy(name) {
				return errExporterFailing
			}
			return nil
		}, time.Second, time.Second, 0, resilience.NonCritical())
	}
	for _, pname := range sortedNames(g.pipelines) {
		exps := g.pipelines[pname]
		_ = h.Register("pipeline/"+pname, func(context.Context) error {
			for _, e := range exps {
				if healthy(e) {
					return nil
				}
			}
			return fmt.Errorf("every exporter is failing: %v", exps)
		}, time.Second, time.Second, 0)
	}
	return h
}

// readiness turns the checker's aggregate into the admin report.
func readiness(ctx context.Context, h *resilience.HealthChecker) admin.Report {
	h.RunOnce(ctx)
	st := h.Status()
	rep := admin.Report{Ready: st.Status != resilience.StatusUnhealthy, Status: st.Status.String()}
	for _, c := range st.Checks {
		detail := c.Error
		if detail == "" {
			detail = c.Status.String()
		}
		rep.Checks = append(rep.Checks, admin.Check{Name: c.Name, OK: c.Status == resilience.StatusHealthy, Detail: detail})
	}
	return rep
}

// registerResilienceMetrics publishes the resilience policies (the [otlp.resilience] manager's
// and each exporter's) on /metrics, read at scrape time.
// It returns the function that unregisters them.
func (s *Server) registerResilienceMetrics() (unregister func()) {
	return s.metrics.RegisterResilience(func() []resilience.Metrics {
		out := s.manager.Metrics()
		if g := s.current.Load(); g != nil {
			for _, name := range sortedNames(g.exporters) {
				if r, ok := g.exporters[name].exp.(resilienceReporter); ok {
					out = append(out, r.ResilienceMetrics())
				}
			}
		}
		return out
	})
}
