package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/processor/batch"
	"github.com/otlp-dev/otlp/internal/processor/memlimit"
	"github.com/otlp-dev/otlp/internal/selftel"
)

// component is what every processor and exporter instance offers the server.
type component interface {
	pipeline.Consumer
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// healthReporter is implemented by exporters that know whether their upstream accepts data.
type healthReporter interface {
	Healthy() bool
}

// exporterSlot is one running exporter and the configuration it was built from, so that a
// reload can keep an unchanged exporter (and its connections and queue) running.
type exporterSlot struct {
	name string
	cfg  config.Exporter
	exp  component
}

// graph is the processors and exporters of one configuration generation. Receivers live
// outside it and reach it through pipeline.Switch values.
type graph struct {
	exporters  map[string]*exporterSlot
	processors []component                    // in start order: nearest the exporters first
	heads      map[string][]pipeline.Consumer // receiver name + "/" + signal → pipeline heads
	pipelines  map[string][]string            // pipeline name → its exporter names
}

// buildGraph creates (but does not start) the components of cfg, reusing exporters of prev
// whose configuration did not change.
func buildGraph(cfg *config.Config, prev *graph, log *slog.Logger, m *selftel.Metrics, goLimit *memlimit.GoLimit) (*graph, error) {
	g := &graph{exporters: map[string]*exporterSlot{}, heads: map[string][]pipeline.Consumer{}, pipelines: map[string][]string{}}
	for name, ecfg := range cfg.Exporters {
		if !usedExporter(cfg, name) {
			continue
		}
		if prev != nil {
			if old, ok := prev.exporters[name]; ok && reflect.DeepEqual(old.cfg, ecfg) {
				g.exporters[name] = old
				continue
			}
		}
		exp, err := newExporter(name, ecfg, log.With("exporter", name), m)
		if err != nil {
			return nil, fmt.Errorf("exporters.%s: %w", name, err)
		}
		g.exporters[name] = &exporterSlot{name: name, cfg: ecfg, exp: exp}
	}
	for pname, p := range cfg.Pipelines {
		sig, err := config.SignalOf(pname)
		if err != nil {
			return nil, err
		}
		fan := make(pipeline.Fanout, 0, len(p.Exporters))
		for _, e := range p.Exporters {
			fan = append(fan, g.exporters[e].exp)
		}
		g.pipelines[pname] = p.Exporters
		var next pipeline.Consumer = fan
		for i := len(p.Processors) - 1; i >= 0; i-- {
			name := p.Processors[i]
			pc := cfg.Processors[name]
			var proc component
			switch {
			case pc.Batch != nil:
				bc := *pc.Batch
				if bc.AckAfterFlush == nil {
					// In front of a disk queue, acknowledge only what reached it.
					durable := false
					for _, e := range p.Exporters {
						durable = durable || cfg.Exporters[e].Durable()
					}
					bc.AckAfterFlush = &durable
				}
				proc, err = batch.New(bc, batch.Settings{Name: pname, Signal: sig, Logger: log.With("processor", name, "pipeline", pname), Metrics: m}, next)
			case pc.MemoryLimiter != nil:
				proc, err = memlimit.New(*pc.MemoryLimiter, memlimit.Settings{Name: pname, Logger: log.With("processor", name, "pipeline", pname), Metrics: m, GoLimit: goLimit}, next)
			default:
				err = fmt.Errorf("unknown processor type %q", pc.Type)
			}
			if err != nil {
				return nil, fmt.Errorf("pipelines.%s.processors: %s: %w", pname, name, err)
			}
			g.processors = append(g.processors, proc)
			next = proc
		}
		for _, r := range p.Receivers {
			key := r + "/" + sig.String()
			g.heads[key] = append(g.heads[key], next)
		}
	}
	return g, nil
}

func usedExporter(cfg *config.Config, name string) bool {
	for _, p := range cfg.Pipelines {
		for _, e := range p.Exporters {
			if e == name {
				return true
			}
		}
	}
	return false
}

// head returns the consumer a receiver's signal feeds, or nil when no pipeline takes it.
func (g *graph) head(receiver string, sig pipeline.Signal) pipeline.Consumer {
	hs := g.heads[receiver+"/"+sig.String()]
	switch len(hs) {
	case 0:
		return nil
	case 1:
		return hs[0]
	}
	return pipeline.Fanout(hs)
}

// start starts exporters not yet running (reused ones are), then processors.
func (g *graph) start(ctx context.Context, prev *graph) error {
	for name, slot := range g.exporters {
		if prev != nil && prev.exporters[name] == slot {
			continue
		}
		if err := slot.exp.Start(ctx); err != nil {
			return fmt.Errorf("exporters.%s: start: %w", name, err)
		}
	}
	for _, p := range g.processors {
		if err := p.Start(ctx); err != nil {
			return fmt.Errorf("processor start: %w", err)
		}
	}
	return nil
}

// shutdown drains the processors into the exporters, then stops the exporters that next (the
// generation replacing this one, or nil) does not keep.
func (g *graph) shutdown(ctx context.Context, next *graph) error {
	var errs []error
	for i := len(g.processors) - 1; i >= 0; i-- {
		errs = append(errs, g.processors[i].Shutdown(ctx))
	}
	for name, slot := range g.exporters {
		if next != nil && next.exporters[name] == slot {
			continue
		}
		errs = append(errs, slot.exp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
