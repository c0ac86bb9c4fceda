package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/tap"
)

// serviceSlot is one side service and what it registered with the host.
type serviceSlot struct {
	typ string
	cfg config.Component
	svc component.Service
	*serviceHost
}

// serviceHost is what a side service sees of the server (component.Host). Routes and checks
// are registered while the service is created; subscriptions are made at any time and closed
// when the service stops.
type serviceHost struct {
	id  string
	hub *tap.Hub

	mu     sync.Mutex
	routes []route        // guarded by mu
	checks []serviceCheck // guarded by mu
	subs   []*tap.Subscription
}

type route struct {
	pattern string
	handler http.Handler
}

type serviceCheck struct {
	name     string
	check    func(context.Context) error
	critical bool
}

func (h *serviceHost) Subscribe(sel tap.Selector, opt tap.Options) (*tap.Subscription, error) {
	s, err := h.hub.Subscribe(h.id, sel, opt)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.subs = append(h.subs, s)
	h.mu.Unlock()
	return s, nil
}

func (h *serviceHost) Handle(pattern string, handler http.Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.routes = append(h.routes, route{pattern, handler})
}

func (h *serviceHost) HealthCheck(name string, check func(context.Context) error, critical bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, serviceCheck{name, check, critical})
}

// closeSubscriptions ends what the service subscribed to.
func (h *serviceHost) closeSubscriptions() {
	h.mu.Lock()
	subs := h.subs
	h.subs = nil
	h.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

// createService builds (without starting) side service typ from cfg.
func (s *Server) createService(ctx context.Context, typ string, cfg config.Component) (*serviceSlot, error) {
	fac, ok := s.factories.Lookup(component.KindService, typ)
	if !ok {
		return nil, fmt.Errorf("%s: %w", typ, s.factories.UnknownType(component.KindService, typ))
	}
	host := &serviceHost{id: typ, hub: s.hub}
	set := component.ServiceSettings{
		Settings: component.Settings{ID: typ, Logger: s.log.With("service", typ), Metrics: s.metrics,
			Resource: map[string]string{"deployment.environment.name": s.cfg.OTLP.Environment}},
		Host: host,
	}
	svc, err := fac.(component.ServiceFactory).CreateService(ctx, set, cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", typ, err)
	}
	seen := map[string]bool{}
	for _, c := range host.checks {
		if c.name == "" || seen[c.name] || c.check == nil {
			_ = svc.Shutdown(ctx)
			return nil, fmt.Errorf("%s: health check %q: a check needs a function and a name of its own", typ, c.name)
		}
		seen[c.name] = true
	}
	return &serviceSlot{typ: typ, cfg: cfg, svc: svc, serviceHost: host}, nil
}

// createServices builds the services of cfg that prev does not keep running: those added or
// whose configuration changed, and, when prev is nil, all of them.
func (s *Server) createServices(ctx context.Context, cfg *config.Config, prev map[string]*serviceSlot) (map[string]*serviceSlot, error) {
	out := map[string]*serviceSlot{}
	var errs []error
	for _, typ := range sortedNames(cfg.Services) {
		sc := cfg.Services[typ]
		if old, ok := prev[typ]; ok && reflect.DeepEqual(old.cfg, sc) {
			out[typ] = old
			continue
		}
		if old, ok := prev[typ]; ok {
			if _, ok := old.svc.(component.Reconfigurer); ok {
				out[typ] = old // reconfigured in place once the reload goes ahead
				continue
			}
		}
		slot, err := s.createService(ctx, typ, sc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[typ] = slot
	}
	if err := errors.Join(errs...); err != nil {
		for typ, slot := range out {
			if prev[typ] != slot {
				_ = slot.svc.Shutdown(ctx) // never started: releases what creating took
			}
		}
		return nil, err
	}
	return out, nil
}

// adminReserved are the admin port's own routes, which no service may take.
var adminReserved = [...]string{"GET /health", "GET /ready", "GET /metrics", "GET /{$}", "/debug/pprof/"}

// serviceRoutes builds one handler for every service's admin routes; two services, or a
// service and the admin port, registering clashing patterns is an error naming them.
func serviceRoutes(services map[string]*serviceSlot) (h http.Handler, err error) {
	mux := http.NewServeMux()
	owner := "the admin port"
	pattern := ""
	defer func() {
		if r := recover(); r != nil {
			h, err = nil, fmt.Errorf("service %s: admin route %q clashes with one already registered: %v", owner, pattern, r)
		}
	}()
	for _, p := range adminReserved {
		pattern = p
		mux.Handle(p, http.NotFoundHandler())
	}
	n := 0
	for _, typ := range sortedNames(services) {
		slot := services[typ]
		slot.mu.Lock()
		routes := append([]route(nil), slot.routes...)
		slot.mu.Unlock()
		for _, r := range routes {
			owner, pattern = typ, r.pattern
			mux.Handle(r.pattern, r.handler)
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	return mux, nil
}

// startServices starts the services of next that cur does not already run, in name order.
func startServices(ctx context.Context, next, cur map[string]*serviceSlot) error {
	for _, typ := range sortedNames(next) {
		slot := next[typ]
		if cur[typ] == slot {
			continue
		}
		if err := slot.svc.Start(ctx); err != nil {
			return fmt.Errorf("%s: start: %w", typ, err)
		}
	}
	return nil
}

// stopServices stops the services of cur that next does not keep (all when next is nil).
func stopServices(ctx context.Context, cur, next map[string]*serviceSlot) error {
	var errs []error
	names := sortedNames(cur)
	for i := len(names) - 1; i >= 0; i-- {
		slot := cur[names[i]]
		if next != nil && next[names[i]] == slot {
			continue
		}
		errs = append(errs, slot.svc.Shutdown(ctx))
		slot.closeSubscriptions()
	}
	return errors.Join(errs...)
}

// reconfigureServices hands a changed configuration to the running services that take one in
// place (component.Reconfigurer); createServices kept them in next.
func (s *Server) reconfigureServices(ctx context.Context, cfg *config.Config, next map[string]*serviceSlot) error {
	for _, typ := range sortedNames(next) {
		slot, sc := next[typ], cfg.Services[typ]
		if s.services[typ] != slot || reflect.DeepEqual(slot.cfg, sc) {
			continue
		}
		if err := slot.svc.(component.Reconfigurer).Reconfigure(ctx, sc.Config); err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		slot.cfg = sc
	}
	return nil
}
