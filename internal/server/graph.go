package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/tap"
)

// healthReporter is implemented by exporters that know whether their upstream accepts data.
type healthReporter interface {
	Healthy() bool
}

// exporterSlot is one running exporter and the configuration it was built from, so that a
// reload can keep an unchanged exporter (and its connections and queue) running.
type exporterSlot struct {
	name string
	cfg  config.Exporter
	exp  component.Exporter
}

// graph is the processors, connectors and exporters of one configuration generation.
// Receivers live outside it and reach it through pipeline.Switch values.
type graph struct {
	exporters map[string]*exporterSlot
	stages    []component.Component          // processors and connectors, in start order: nearest the exporters first
	heads     map[string][]pipeline.Consumer // receiver name + "/" + signal → pipeline heads
	pipelines map[string][]string            // pipeline name → the exporters its data reaches (through connectors too)
	hub       *tap.Hub                       // the server's tap points, wrapped around heads and fan-outs
}

// builder holds what building one graph needs.
type builder struct {
	cfg       *config.Config
	factories component.Factories
	log       *slog.Logger
	metrics   *selftel.Metrics
	resource  map[string]string
	g         *graph
	// routes[connector][signal] are the heads of the pipelines of that signal the connector feeds.
	routes map[string]map[pipeline.Signal]component.Routes
}

// buildGraph creates (but does not start) the components of cfg, reusing exporters of prev
// whose configuration did not change.
func buildGraph(ctx context.Context, cfg *config.Config, prev *graph, f component.Factories, hub *tap.Hub, log *slog.Logger, m *selftel.Metrics) (*graph, error) {
	b := &builder{cfg: cfg, factories: f, log: log, metrics: m,
		resource: map[string]string{"deployment.environment.name": cfg.OTLP.Environment},
		g: &graph{exporters: map[string]*exporterSlot{}, heads: map[string][]pipeline.Consumer{}, pipelines: map[string][]string{},
			hub: hub},
		routes: map[string]map[pipeline.Signal]component.Routes{}}
	for _, name := range sortedNames(cfg.Exporters) {
		ecfg := cfg.Exporters[name]
		if !usedExporter(cfg, name) {
			continue
		}
		if prev != nil {
			if old, ok := prev.exporters[name]; ok && reflect.DeepEqual(old.cfg, ecfg) {
				b.g.exporters[name] = old
				continue
			}
		}
		fac, ok := f.Lookup(component.KindExporter, ecfg.Type)
		if !ok {
			b.g.release(ctx, prev)
			return nil, fmt.Errorf("exporters.%s: %w", name, f.UnknownType(component.KindExporter, ecfg.Type))
		}
		exp, err := fac.(component.ExporterFactory).CreateExporter(ctx, b.settings(name, "exporter"), ecfg.Config)
		if err != nil {
			b.g.release(ctx, prev)
			return nil, fmt.Errorf("exporters.%s: %w", name, err)
		}
		b.g.exporters[name] = &exporterSlot{name: name, cfg: ecfg, exp: exp}
	}
	for _, pname := range pipelineOrder(cfg) {
		if err := b.buildPipeline(ctx, pname); err != nil {
			b.g.release(ctx, prev)
			return nil, err
		}
	}
	return b.g, nil
}

func (b *builder) settings(id, kind string) component.Settings {
	return component.Settings{ID: id, Logger: b.log.With(kind, id), Metrics: b.metrics, Resource: b.resource}
}

// buildPipeline creates the processors of pipeline pname and the connectors it exports to;
// every pipeline those connectors feed is already built.
func (b *builder) buildPipeline(ctx context.Context, pname string) error {
	cfg, g := b.cfg, b.g
	p := cfg.Pipelines[pname]
	sig, err := config.SignalOf(pname)
	if err != nil {
		return err
	}
	fan := make(pipeline.Fanout, 0, len(p.Exporters))
	for _, e := range p.Exporters {
		if slot, ok := g.exporters[e]; ok {
			fan = append(fan, slot.exp)
			g.pipelines[pname] = append(g.pipelines[pname], e)
			continue
		}
		conn, fed, err := b.buildConnector(ctx, e, sig)
		if err != nil {
			return fmt.Errorf("pipelines.%s.exporters: %s: %w", pname, e, err)
		}
		fan = append(fan, conn)
		for _, r := range fed {
			for _, x := range g.pipelines[r.Pipeline] {
				if !slices.Contains(g.pipelines[pname], x) {
					g.pipelines[pname] = append(g.pipelines[pname], x)
				}
			}
		}
	}
	// Durable when an exporter the data reaches, directly or through connectors, keeps a disk
	// queue: stages in front then acknowledge only what reached it.
	durable := false
	for _, e := range g.pipelines[pname] {
		durable = durable || g.exporters[e].cfg.Durable()
	}
	// Always the Fanout, also for one exporter: it retries a retryable refusal (a full queue)
	// until the exporter accepts, which the stages in front rely on. The Exported tap point
	// sees what the fan-out accepted.
	next := g.wrap(tap.Exported, sig, pname, fan)
	for i := len(p.Processors) - 1; i >= 0; i-- {
		name := p.Processors[i]
		pc := cfg.Processors[name]
		fac, ok := b.factories.Lookup(component.KindProcessor, pc.Type)
		if !ok {
			return fmt.Errorf("pipelines.%s.processors: %s: %w", pname, name, b.factories.UnknownType(component.KindProcessor, pc.Type))
		}
		set := component.PipelineSettings{Settings: b.settings(name, "processor"), Pipeline: pname, Signal: sig, Durable: durable}
		set.Logger = set.Logger.With("pipeline", pname)
		proc, err := fac.(component.ProcessorFactory).CreateProcessor(ctx, set, pc.Config, next)
		if err != nil {
			return fmt.Errorf("pipelines.%s.processors: %s: %w", pname, name, err)
		}
		g.stages = append(g.stages, proc)
		next = proc
	}
	for _, r := range p.Receivers {
		if _, ok := cfg.Connectors[r]; ok {
			if b.routes[r] == nil {
				b.routes[r] = map[pipeline.Signal]component.Routes{}
			}
			b.routes[r][sig] = append(b.routes[r][sig], component.Route{Pipeline: pname, Consumer: next})
			continue
		}
		key := r + "/" + sig.String()
		g.heads[key] = append(g.heads[key], next)
	}
	return nil
}

// buildConnector creates connector name for input signal in: one instance per output signal
// it feeds pipelines of, fanned out when there are several. It also returns the pipelines the
// data from in reaches.
func (b *builder) buildConnector(ctx context.Context, name string, in pipeline.Signal) (pipeline.Consumer, component.Routes, error) {
	cc := b.cfg.Connectors[name]
	fac, ok := b.factories.Lookup(component.KindConnector, cc.Type)
	if !ok {
		return nil, nil, b.factories.UnknownType(component.KindConnector, cc.Type)
	}
	cf := fac.(component.ConnectorFactory)
	var outs pipeline.Fanout
	var fed component.Routes
	for _, out := range pipeline.Signals {
		routes := b.routes[name][out]
		if len(routes) == 0 || !slices.Contains(cf.Outputs(in), out) {
			continue
		}
		set := b.settings(name, "connector")
		set.Logger = set.Logger.With("from", in.String(), "to", out.String())
		conn, err := cf.CreateConnector(ctx, set, cc.Config, in, out, routes)
		if err != nil {
			return nil, nil, err
		}
		b.g.stages = append(b.g.stages, conn)
		outs = append(outs, conn)
		fed = append(fed, routes...)
	}
	if len(outs) == 0 {
		return nil, nil, fmt.Errorf("connector feeds no pipeline from %s", in)
	}
	if len(outs) == 1 {
		return outs[0], fed, nil
	}
	return outs, fed, nil
}

// pipelineOrder lists the pipelines so that each comes after every pipeline it feeds through
// a connector (validation rejects cycles), by name otherwise.
func pipelineOrder(cfg *config.Config) []string {
	var order []string
	seen := map[string]bool{}
	var visit func(p string)
	visit = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, e := range cfg.Pipelines[p].Exporters {
			if _, ok := cfg.Connectors[e]; !ok {
				continue
			}
			for _, q := range sortedNames(cfg.Pipelines) {
				if slices.Contains(cfg.Pipelines[q].Receivers, e) {
					visit(q)
				}
			}
		}
		order = append(order, p)
	}
	for _, p := range sortedNames(cfg.Pipelines) {
		visit(p)
	}
	return order
}

func usedExporter(cfg *config.Config, name string) bool {
	for _, p := range cfg.Pipelines {
		if slices.Contains(p.Exporters, name) {
			return true
		}
	}
	return false
}

// head returns the consumer a receiver's signal feeds, behind the receiver's Received tap
// point, or nil when no pipeline takes it.
func (g *graph) head(receiver string, sig pipeline.Signal) pipeline.Consumer {
	hs := g.heads[receiver+"/"+sig.String()]
	switch len(hs) {
	case 0:
		return nil
	case 1:
		return g.wrap(tap.Received, sig, receiver, hs[0])
	}
	return g.wrap(tap.Received, sig, receiver, pipeline.Fanout(hs))
}

// wrap puts next behind a tap point; without a hub (tests building a bare graph) next itself.
func (g *graph) wrap(pos tap.Position, sig pipeline.Signal, name string, next pipeline.Consumer) pipeline.Consumer {
	if g.hub == nil {
		return next
	}
	return g.hub.Wrap(pos, sig, name, next)
}

// start starts exporters not yet running (reused ones are), then processors and connectors.
func (g *graph) start(ctx context.Context, prev *graph) error {
	for _, name := range sortedNames(g.exporters) {
		slot := g.exporters[name]
		if prev != nil && prev.exporters[name] == slot {
			continue
		}
		if err := slot.exp.Start(ctx); err != nil {
			return fmt.Errorf("exporters.%s: start: %w", name, err)
		}
	}
	for _, p := range g.stages {
		if err := p.Start(ctx); err != nil {
			return fmt.Errorf("processor start: %w", err)
		}
	}
	return nil
}

// shutdown drains the processors and connectors into the exporters, then stops the exporters
// that next (the generation replacing this one, or nil) does not keep.
func (g *graph) shutdown(ctx context.Context, next *graph) error {
	var errs []error
	for i := len(g.stages) - 1; i >= 0; i-- {
		errs = append(errs, g.stages[i].Shutdown(ctx))
	}
	for name, slot := range g.exporters {
		if next != nil && next.exporters[name] == slot {
			continue
		}
		errs = append(errs, slot.exp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// release shuts down what a graph that failed to build had created, leaving prev's exporters.
func (g *graph) release(ctx context.Context, prev *graph) { _ = g.shutdown(ctx, prev) }
