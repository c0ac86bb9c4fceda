package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

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
// and each exporter's) on /metrics through the OpenTelemetry metric API, bridged into the
// server's Prometheus registry.
func (s *Server) registerResilienceMetrics() (shutdown func(context.Context) error, err error) {
	exp, err := otelprom.New(otelprom.WithRegisterer(s.metrics.Registry), otelprom.WithoutTargetInfo(), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	var reg metric.Registration
	reg, err = resilience.RegisterOTelMetrics(mp.Meter("otlp-server/resilience"), func() []resilience.Metrics {
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
	if err != nil {
		_ = mp.Shutdown(context.Background())
		return nil, err
	}
	return func(ctx context.Context) error {
		return errors.Join(reg.Unregister(), mp.Shutdown(ctx))
	}, nil
}
