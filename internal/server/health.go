package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/otlp-dev/otlp/internal/admin"
	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/resilience"
)

// statusReporter is implemented by exporters behind a sender: the last error and since when
// attempts have been failing.
type statusReporter interface {
	Status() sender.Status
}

// endpointLister is implemented by load-balanced exporters.
type endpointLister interface {
	Endpoints() []lb.EndpointStatus
}

// resilienceReporter is implemented by exporters whose retry and breaker policies have
// metrics to publish.
type resilienceReporter interface {
	ResilienceMetrics() resilience.Metrics
}

var errExporterFailing = errors.New("every export attempt has been failing")

// exporterState is what the readiness checks ask of an exporter.
type exporterState struct {
	healthy   bool // attempts succeed (or have not been failing for long)
	accepting bool // it takes new data: healthy, or buffering on disk with room to spare
	problem   error
}

// lockedGrace is how long a disk queue may wait for its directory before /ready counts it as
// not accepting: during a reload the replacement waits briefly for the exporter it replaces.
const lockedGrace = 5 * time.Second

func stateOf(exp component.Exporter) exporterState {
	st := exporterState{healthy: true, accepting: true}
	if r, ok := exp.(healthReporter); ok {
		st.healthy = r.Healthy()
	}
	r, ok := exp.(statusReporter)
	if !ok {
		if !st.healthy {
			st.accepting, st.problem = false, errExporterFailing
		}
		return st
	}
	s := r.Status()
	cause := ""
	if s.LastError != "" {
		cause = ": " + s.LastError
		if !s.FailingSince.IsZero() {
			cause = fmt.Sprintf(" for %s: %s", time.Since(s.FailingSince).Round(time.Second), s.LastError)
		}
	}
	switch {
	case s.LockedFor > lockedGrace:
		st.accepting = false
		st.problem = fmt.Errorf("cannot accept: the disk queue's directory has been locked by another process for %s (two exporters or processes on one sending_queue.disk.dir?)", s.LockedFor.Round(time.Second))
	case s.WriteError != "":
		st.accepting = false
		st.problem = fmt.Errorf("cannot accept: the disk queue cannot write (for %s): %s; free space on its file system or lower max_disk_mib",
			time.Since(s.WriteFailingSince).Round(time.Second), s.WriteError)
	case s.Refusing:
		st.accepting = false
		st.problem = fmt.Errorf("cannot accept: the queue is full (%d items) and refuses new data%s", s.Queued, cause)
	case !st.healthy && s.Durable:
		// Still taking data: it waits on disk for the upstream to come back.
		st.problem = fmt.Errorf("accepting and buffering on disk (%d items queued), upstream unreachable%s", s.Queued, cause)
	case !st.healthy:
		st.accepting = false
		st.problem = fmt.Errorf("%s%s", errExporterFailing, cause)
	}
	return st
}

// newHealth builds the readiness checks of a graph: each exporter (non-critical: one failing
// exporter of several, or one buffering on disk while its upstream is away, degrades) and each
// pipeline (critical: a pipeline none of whose exporters accepts data makes the server not
// ready), and the checks side services registered ("service/<type>/<name>"). /ready runs them
// on demand, so no goroutine is needed.
func newHealth(g *graph, services map[string]*serviceSlot) *resilience.HealthChecker {
	h := resilience.NewHealthChecker()
	for _, typ := range sortedNames(services) {
		slot := services[typ]
		slot.mu.Lock()
		checks := append([]serviceCheck(nil), slot.checks...)
		slot.mu.Unlock()
		for _, c := range checks {
			var opts []resilience.CheckOption
			if !c.critical {
				opts = append(opts, resilience.NonCritical())
			}
			_ = h.Register("service/"+typ+"/"+c.name, c.check, time.Second, time.Second, 0, opts...)
		}
	}
	for _, name := range sortedNames(g.exporters) {
		_ = h.Register("exporter/"+name, func(context.Context) error {
			return stateOf(g.exporters[name].exp).problem
		}, time.Second, time.Second, 0, resilience.NonCritical())
	}
	for _, pname := range sortedNames(g.pipelines) {
		exps := g.pipelines[pname]
		_ = h.Register("pipeline/"+pname, func(context.Context) error {
			for _, e := range exps {
				if stateOf(g.exporters[e].exp).accepting {
					return nil
				}
			}
			return fmt.Errorf("no exporter accepts data: %v", exps)
		}, time.Second, time.Second, 0)
	}
	return h
}

// exporterDetails adds to rep what the checks leave out: a healthy exporter's last error, and
// one row per endpoint of each balanced exporter with its breaker state and last error. A
// failing endpoint degrades the status but not readiness (the others take its share).
func exporterDetails(rep *admin.Report, g *graph, now time.Time) {
	if g == nil {
		return
	}
	for _, name := range sortedNames(g.exporters) {
		exp := g.exporters[name].exp
		if r, ok := exp.(statusReporter); ok {
			if st := r.Status(); st.Healthy && st.LastError != "" {
				for i := range rep.Checks {
					if rep.Checks[i].Name == "exporter/"+name {
						rep.Checks[i].Detail = fmt.Sprintf("healthy; last error %s ago: %s", now.Sub(st.LastErrorTime).Round(time.Second), st.LastError)
					}
				}
			}
		}
		l, ok := exp.(endpointLister)
		if !ok {
			continue
		}
		for _, ep := range l.Endpoints() {
			detail := fmt.Sprintf("breaker %s, %d ok, %d failed", ep.Breaker, ep.Successes, ep.Failures)
			if !ep.EjectedUntil.IsZero() {
				detail += fmt.Sprintf(", ejected for %s", ep.EjectedUntil.Sub(now).Round(time.Second))
			}
			if ep.LastError != "" {
				detail += fmt.Sprintf("; last error %s ago: %s", now.Sub(ep.LastFailure).Round(time.Second), ep.LastError)
			}
			rep.Checks = append(rep.Checks, admin.Check{Name: "exporter/" + name + "/endpoint/" + ep.Address, OK: ep.Healthy, Detail: detail})
			if !ep.Healthy && rep.Status == resilience.StatusHealthy.String() {
				rep.Status = resilience.StatusDegraded.String()
			}
		}
	}
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
