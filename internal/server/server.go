// Package server assembles otlp-server from its configuration: receivers feed pipelines
// (processors, then a fan-out to exporters), and the admin endpoints report on all of it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlp-dev/otlp/internal/admin"
	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/components"
	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/serverconf"
	"github.com/otlp-dev/otlp/internal/tap"
	"github.com/otlp-dev/otlp/resilience"
)

// Settings are what the process gives the server.
type Settings struct {
	Logger *slog.Logger
	// Level is adjusted on reload when log_level changes; nil leaves the level alone.
	Level   *slog.LevelVar
	Version string
	// Factories are the component types the configuration may use; zero: the built-in ones
	// (internal/components). The configuration must have been parsed with the same types.
	Factories component.Factories
}

// receiverSlot is a running receiver and the switches its signals feed.
type receiverSlot struct {
	cfg      config.Receiver
	files    string // digest of the files it read at start (TLS, token): a rotation restarts it
	recv     component.Receiver
	switches map[pipeline.Signal]*pipeline.Switch
}

// Server is one otlp-server instance. Several can run in one process.
type Server struct {
	set     Settings
	log     *slog.Logger
	metrics *selftel.Metrics
	admin   *admin.Server
	// factories outlive configuration generations: a factory may hold what its instances
	// share (the memory limiters' owner of the Go runtime's memory limit).
	factories component.Factories
	// hub owns the tap points, which outlive configuration generations.
	hub *tap.Hub

	manager     *resilience.Manager   // named policies of [otlp.resilience], for /metrics
	current     atomic.Pointer[graph] // the running graph, for readers outside mu
	health      atomic.Pointer[resilience.HealthChecker]
	stopMetrics func()

	mu        sync.Mutex // serialises Start, Reload and Shutdown
	cfg       *config.Config
	graph     *graph
	receivers map[string]*receiverSlot
	services  map[string]*serviceSlot // side services by type
	started   bool
	stopped   bool
}

// New builds a server for cfg. Nothing listens until Start.
func New(cfg *config.Config, set Settings) (*Server, error) {
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Factories.IsZero() {
		set.Factories = components.Default()
	}
	s := &Server{set: set, log: set.Logger, metrics: selftel.New(), cfg: cfg, receivers: map[string]*receiverSlot{},
		factories: set.Factories, hub: tap.NewHub()}
	ctx := context.Background()
	g, err := buildGraph(ctx, cfg, nil, s.factories, s.hub, s.log, s.metrics)
	if err != nil {
		return nil, err
	}
	if s.services, err = s.createServices(ctx, cfg, nil); err != nil {
		g.release(ctx, nil)
		return nil, err
	}
	routes, err := serviceRoutes(s.services)
	if err != nil {
		_ = stopServices(ctx, s.services, nil)
		g.release(ctx, nil)
		return nil, err
	}
	s.graph = g
	s.current.Store(g)
	s.health.Store(newHealth(g, s.services))
	if s.manager, err = resilience.NewManager(cfg.OTLP.Resilience, resilience.WithLogger(s.log)); err != nil {
		return nil, fmt.Errorf("otlp.resilience: %w", err)
	}
	s.stopMetrics = s.registerResilienceMetrics()
	s.metrics.Registry.MustRegister(tap.NewCollector(s.hub))
	s.admin = admin.New(cfg.Admin, admin.Settings{Logger: s.log.With("component", "admin"), Gatherer: s.metrics.Registry, Ready: s.Ready, Version: set.Version})
	s.admin.SetRoutes(routes)
	return s, nil
}

// Metrics exposes the self-metrics (tests read counters from it).
func (s *Server) Metrics() *selftel.Metrics { return s.metrics }

// Start starts exporters, processors, side services, receivers and the admin server, in that
// order, so nothing is accepted before the path behind it runs, and services see the first
// batch.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server: already started")
	}
	s.started = true
	if err := s.graph.start(ctx, nil); err != nil {
		return err
	}
	if err := startServices(ctx, s.services, nil); err != nil {
		return err
	}
	for _, name := range sortedNames(s.cfg.Receivers) {
		if err := s.startReceiverLocked(ctx, name, s.cfg.Receivers[name], s.graph); err != nil {
			return err
		}
	}
	if err := s.admin.Start(ctx); err != nil {
		return err
	}
	s.log.Info("started", "receivers", len(s.receivers), "pipelines", len(s.cfg.Pipelines), "exporters", len(s.graph.exporters), "services", len(s.services))
	return nil
}

func (s *Server) startReceiverLocked(ctx context.Context, name string, rc config.Receiver, g *graph) error {
	slot := &receiverSlot{cfg: rc, switches: map[pipeline.Signal]*pipeline.Switch{}}
	var cons component.Consumers
	for _, sig := range pipeline.Signals {
		if h := g.head(name, sig); h != nil {
			sw := &pipeline.Switch{}
			sw.Set(h)
			slot.switches[sig] = sw
			cons[sig] = sw
		}
	}
	slot.files = filesDigest(rc)
	r, err := s.buildReceiver(ctx, name, rc, cons)
	if err != nil || r == nil {
		return err
	}
	slot.recv = r
	if err := slot.recv.Start(ctx); err != nil {
		return fmt.Errorf("receivers.%s: %w", name, err)
	}
	s.receivers[name] = slot
	return nil
}

// buildReceiver creates (without starting) receiver name feeding cons; nil when it has nothing
// to feed. It loads what the receiver needs from disk (TLS files, token files).
func (s *Server) buildReceiver(ctx context.Context, name string, rc config.Receiver, cons component.Consumers) (component.Receiver, error) {
	fac, ok := s.factories.Lookup(component.KindReceiver, rc.Type)
	if !ok {
		return nil, fmt.Errorf("receivers.%s: %w", name, s.factories.UnknownType(component.KindReceiver, rc.Type))
	}
	set := component.Settings{ID: name, Logger: s.log.With("receiver", name), Metrics: s.metrics,
		Resource: map[string]string{"deployment.environment.name": s.cfg.OTLP.Environment}}
	r, err := fac.(component.ReceiverFactory).CreateReceiver(ctx, set, rc.Config, cons)
	if err != nil {
		return nil, fmt.Errorf("receivers.%s: %w", name, err)
	}
	return r, nil
}

// filesDigest hashes the contents of the files receiver rc reads at start; "" when it reads
// none. A file that cannot be read hashes as its error, so that it counts as changed.
func filesDigest(rc config.Receiver) string {
	f, ok := rc.Config.(component.FileReader)
	if !ok {
		return ""
	}
	return serverconf.Digest(f.Files())
}

// receiverFilesChangedLocked reports whether a running receiver's TLS or token file changed
// on disk since it started (a rotation), which a reload with the same text must pick up.
func (s *Server) receiverFilesChangedLocked() bool {
	for _, slot := range s.receivers {
		if slot.files != filesDigest(slot.cfg) {
			return true
		}
	}
	return false
}

// checkReceivers builds (and discards) the receivers of cfg named in names against graph g,
// and checks the listen addresses of cfg, so that a reload finds what would fail at start.
func (s *Server) checkReceivers(cfg *config.Config, g *graph, names []string) error {
	var errs []error
	for _, name := range names {
		var cons component.Consumers
		for _, sig := range pipeline.Signals {
			if h := g.head(name, sig); h != nil {
				cons[sig] = h
			}
		}
		r, err := s.buildReceiver(context.Background(), name, cfg.Receivers[name], cons)
		if err != nil {
			errs = append(errs, err)
		} else if r != nil {
			_ = r.Shutdown(context.Background()) // never started: releases what building took
		}
	}
	return errors.Join(append(errs, listenClashes(cfg))...)
}

// ReceiverAddrs returns the bound gRPC and HTTP addresses of a receiver (tests bind port 0).
func (s *Server) ReceiverAddrs(name string) (grpcAddr, httpAddr net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type addrs interface {
		GRPCAddr() net.Addr
		HTTPAddr() net.Addr
	}
	if slot, ok := s.receivers[name]; ok {
		if a, ok := slot.recv.(addrs); ok {
			return a.GRPCAddr(), a.HTTPAddr()
		}
	}
	return nil, nil
}

// AdminAddr is the bound admin address.
func (s *Server) AdminAddr() net.Addr { return s.admin.Addr() }

// Reload applies a new configuration without dropping data: unchanged receivers keep their
// connections and are switched to the new pipelines; changed receivers are restarted; the old
// pipelines drain into their exporters before those that changed are stopped. The admin
// endpoint and log format need a restart to change.
func (s *Server) Reload(ctx context.Context, cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopped {
		return errors.New("server: reload while not running")
	}
	if reflect.DeepEqual(cfg.Admin, s.cfg.Admin) {
		// A rotated admin certificate or token takes effect now; an unreadable one rejects
		// the reload, as for the receivers.
		switch reloaded, err := s.admin.ReloadFiles(); {
		case err != nil:
			return fmt.Errorf("reload rejected, the running configuration stays: %w", err)
		case reloaded:
			s.log.Info("admin: TLS and token files read again")
		}
	}
	if reflect.DeepEqual(cfg, s.cfg) && !s.receiverFilesChangedLocked() {
		s.log.Info("configuration unchanged")
		return nil
	}
	if !reflect.DeepEqual(cfg.Admin, s.cfg.Admin) || cfg.OTLP.LogFormat != s.cfg.OTLP.LogFormat {
		s.log.Warn("admin endpoint and log_format changes take effect after a restart")
	}
	next, err := buildGraph(ctx, cfg, s.graph, s.factories, s.hub, s.log, s.metrics)
	if err != nil {
		return err
	}
	// Services added or changed are created (and their routes checked) before anything
	// running changes; one that cannot be rejects the reload.
	nextSvcs, err := s.createServices(ctx, cfg, s.services)
	if err != nil {
		_ = next.shutdown(ctx, s.graph)
		return fmt.Errorf("reload rejected, the running configuration stays: %w", err)
	}
	routes, err := serviceRoutes(nextSvcs)
	if err == nil {
		err = s.reconfigureServices(ctx, cfg, nextSvcs)
	}
	if err != nil {
		_ = stopServices(ctx, nextSvcs, s.services)
		_ = next.shutdown(ctx, s.graph)
		return fmt.Errorf("reload rejected, the running configuration stays: %w", err)
	}
	// Receivers to start anew (changed or added): they must build (TLS, token files) and their
	// addresses must not clash before anything running is stopped.
	keep := map[string]bool{}
	var fresh []string
	for _, name := range sortedNames(cfg.Receivers) {
		if slot, ok := s.receivers[name]; ok && reflect.DeepEqual(cfg.Receivers[name], slot.cfg) && sameSignals(slot, next, name) &&
			slot.files == filesDigest(cfg.Receivers[name]) {
			keep[name] = true
		} else {
			fresh = append(fresh, name)
		}
	}
	if err := s.checkReceivers(cfg, next, fresh); err != nil {
		_ = stopServices(ctx, nextSvcs, s.services)
		_ = next.shutdown(ctx, s.graph)
		return fmt.Errorf("reload rejected, the running configuration stays: %w", err)
	}
	if err := next.start(ctx, s.graph); err != nil {
		_ = stopServices(ctx, nextSvcs, s.services)
		_ = next.shutdown(ctx, s.graph)
		return err
	}
	// Stop the receivers that change or go, then start the new ones; if one cannot start (its
	// port taken, say), put the old ones back, so that a reload never leaves the server deaf.
	var errs []error
	stopped := map[string]*receiverSlot{}
	for name, slot := range s.receivers {
		if keep[name] {
			continue
		}
		errs = append(errs, slot.recv.Shutdown(ctx))
		stopped[name] = slot
		delete(s.receivers, name)
	}
	var startErr error
	for _, name := range fresh {
		if err := s.startReceiverLocked(ctx, name, cfg.Receivers[name], next); err != nil {
			startErr = errors.Join(startErr, err)
		}
	}
	if startErr != nil {
		for _, name := range fresh {
			if slot, ok := s.receivers[name]; ok {
				_ = slot.recv.Shutdown(ctx)
				delete(s.receivers, name)
			}
		}
		for _, name := range sortedNames(stopped) {
			if err := s.startReceiverLocked(ctx, name, stopped[name].cfg, s.graph); err != nil {
				startErr = errors.Join(startErr, fmt.Errorf("restoring receiver %s: %w", name, err))
			}
		}
		_ = stopServices(ctx, nextSvcs, s.services)
		_ = next.shutdown(ctx, s.graph)
		s.log.Error("reload failed: a receiver did not start; the previous receivers and pipelines were restored", "error", startErr)
		return fmt.Errorf("reload failed, previous configuration restored: %w", startErr)
	}
	// Services that change or go stop before their replacements start: two rule engines at
	// once would notify twice.
	errs = append(errs, stopServices(ctx, s.services, nextSvcs))
	if err := startServices(ctx, nextSvcs, s.services); err != nil {
		errs = append(errs, err)
		s.log.Error("reload: a side service did not start", "error", err)
	}
	s.services = nextSvcs
	s.admin.SetRoutes(routes)
	for name, slot := range s.receivers {
		if keep[name] {
			for sig, sw := range slot.switches {
				sw.Set(next.head(name, sig))
			}
		}
	}
	old := s.graph
	s.graph, s.cfg = next, cfg
	s.current.Store(next)
	s.health.Store(newHealth(next, s.services))
	errs = append(errs, old.shutdown(ctx, next))
	if s.set.Level != nil {
		if l, err := config.ParseLevel(cfg.OTLP.LogLevel); err == nil {
			s.set.Level.Set(l)
		}
	}
	s.log.Info("configuration reloaded", "receivers", len(s.receivers), "pipelines", len(cfg.Pipelines), "exporters", len(next.exporters))
	return errors.Join(errs...)
}

// sameSignals reports whether the receiver feeds the same set of signals in the next graph, so
// its switches can simply be repointed.
func sameSignals(slot *receiverSlot, next *graph, name string) bool {
	for _, sig := range pipeline.Signals {
		_, has := slot.switches[sig]
		if has != (next.head(name, sig) != nil) {
			return false
		}
	}
	return true
}

// Shutdown stops receivers (in-flight requests finish into the pipelines), drains processors
// into exporters, drains exporters within ctx's deadline, then stops the admin server.
// Idempotent and safe without Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	var errs []error
	for _, slot := range s.receivers {
		errs = append(errs, slot.recv.Shutdown(ctx))
	}
	if s.started {
		errs = append(errs, s.graph.shutdown(ctx, nil))
	}
	// After the pipelines drained: services see the last batches through their taps.
	errs = append(errs, stopServices(ctx, s.services, nil))
	errs = append(errs, s.admin.Shutdown(ctx), s.manager.Close())
	s.stopMetrics()
	s.log.Info("stopped")
	return errors.Join(errs...)
}

// Ready runs the readiness checks: the server runs, and each pipeline has at least one
// exporter that is not failing (one failing exporter of several only degrades).
func (s *Server) Ready(ctx context.Context) admin.Report {
	s.mu.Lock()
	running := s.started && !s.stopped
	s.mu.Unlock()
	if !running {
		return admin.Report{Ready: false, Status: "unhealthy", Checks: []admin.Check{{Name: "server", Detail: "not running"}}}
	}
	rep := readiness(ctx, s.health.Load())
	exporterDetails(&rep, s.current.Load(), time.Now())
	return rep
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
