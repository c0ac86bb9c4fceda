// Package routing is the "routing" connector: it sends each resource, span, metric or log
// record to the pipelines of the first route whose condition it meets, and what meets none to
// the default pipelines, in the configuration shape of the Collector's routingconnector.
package routing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/ottl"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Config is [connectors.routing].
type Config struct {
	// DefaultPipelines take what matches no route; with none, such data is dropped (and
	// counted in the log at debug).
	DefaultPipelines []string `toml:"default_pipelines"`
	// ErrorMode is accepted for the Collector's vocabulary: propagate, ignore or silent.
	// Conditions here are checked when the configuration loads and cannot fail on data.
	ErrorMode string  `toml:"error_mode"`
	Table     []Route `toml:"table"`
}

// Route is one row of the table.
type Route struct {
	// Context is what a condition looks at: resource (the default), span, metric or log.
	Context string `toml:"context"`
	// Condition is an OTTL condition, e.g. attributes["tenant"] == "acme".
	Condition string `toml:"condition"`
	// Statement is the older spelling: route() where <condition>.
	Statement string   `toml:"statement"`
	Pipelines []string `toml:"pipelines"`
	// Action is "move" (the default: what matches leaves for this route only) or "copy"
	// (it goes to this route and stays for the routes after it and the default).
	Action string `toml:"action"`
}

// Validate checks the table's shape and parses every condition.
func (c *Config) Validate() error {
	var errs []error
	switch c.ErrorMode {
	case "", "propagate", "ignore", "silent":
	default:
		errs = append(errs, fmt.Errorf("error_mode: %q is not one of propagate, ignore, silent", c.ErrorMode))
	}
	if len(c.Table) == 0 {
		errs = append(errs, errors.New("table: at least one route is required"))
	}
	for i, r := range c.Table {
		if _, err := r.parse(); err != nil {
			errs = append(errs, fmt.Errorf("table[%d]: %w", i, err))
		}
		if r.Action != "" && r.Action != "move" && r.Action != "copy" {
			errs = append(errs, fmt.Errorf("table[%d].action: %q is neither move nor copy", i, r.Action))
		}
		if len(r.Pipelines) == 0 {
			errs = append(errs, fmt.Errorf("table[%d].pipelines: at least one pipeline is required", i))
		}
	}
	return errors.Join(errs...)
}

func (r Route) context() string {
	if r.Context == "" {
		return "resource"
	}
	return r.Context
}

// compiled is a parsed route: its condition in the route's context.
type compiled struct {
	ctx    string
	res    *ottl.Condition[ottl.ResourceItem]
	span   *ottl.Condition[ottl.SpanItem]
	metric *ottl.Condition[ottl.MetricItem]
	log    *ottl.Condition[ottl.LogItem]
}

// parse reads the route's condition (OTTL, see internal/ottl) for its context.
func (r Route) parse() (compiled, error) {
	c := compiled{ctx: r.context()}
	src := r.Condition
	switch {
	case r.Condition != "" && r.Statement != "":
		return c, errors.New("set condition or statement, not both")
	case r.Statement != "":
		s := strings.TrimSpace(r.Statement)
		rest, ok := strings.CutPrefix(s, "route()")
		rest, ok2 := strings.CutPrefix(strings.TrimSpace(rest), "where")
		if !ok || !ok2 {
			return c, fmt.Errorf("statement %q: want route() where <condition>", r.Statement)
		}
		src = rest
	case r.Condition == "":
		return c, errors.New("condition: required")
	}
	var err error
	switch c.ctx {
	case "resource":
		c.res, err = ottl.Parse(src, ottl.ResourcePaths)
	case "span":
		c.span, err = ottl.Parse(src, ottl.SpanPaths)
	case "metric":
		c.metric, err = ottl.Parse(src, ottl.MetricPaths)
	case "log":
		c.log, err = ottl.Parse(src, ottl.LogPaths)
	case "datapoint", "request":
		return c, fmt.Errorf("context: %q is not supported (use resource, span, metric or log)", c.ctx)
	default:
		return c, fmt.Errorf("context: %q is not one of resource, span, metric, log", c.ctx)
	}
	return c, err
}

// NewFactory returns the factory of the "routing" connector.
func NewFactory() component.ConnectorFactory {
	same := map[pipeline.Signal][]pipeline.Signal{}
	for _, s := range pipeline.Signals {
		same[s] = []pipeline.Signal{s}
	}
	return component.NewConnectorFactory("routing", same,
		func() *Config { return &Config{} },
		func(_ context.Context, set component.Settings, cfg *Config, in, _ pipeline.Signal, next component.Routes) (component.Connector, error) {
			return New(*cfg, in, next)
		})
}

// table is a parsed route: its condition, context and destination.
type table struct {
	compiled
	copy bool
	to   pipeline.Consumer
}

// Connector routes one signal.
type Connector struct {
	signal pipeline.Signal
	routes []table
	def    pipeline.Consumer // nil: unmatched data is dropped
}

// New builds the connector for signal sig feeding next; every pipeline the table names must
// list the connector as a receiver.
func New(cfg Config, sig pipeline.Signal, next component.Routes) (*Connector, error) {
	c := &Connector{signal: sig}
	pick := func(key string, names []string) (pipeline.Consumer, error) {
		var fan pipeline.Fanout
		for _, n := range names {
			cons, ok := next.Get(n)
			if !ok {
				return nil, fmt.Errorf("%s: pipeline %q does not list this connector as a receiver", key, n)
			}
			fan = append(fan, cons)
		}
		if len(fan) == 1 {
			return fan[0], nil
		}
		return fan, nil
	}
	for i, r := range cfg.Table {
		cond, err := r.parse()
		if err != nil {
			return nil, fmt.Errorf("table[%d]: %w", i, err)
		}
		if ok := slices.Contains(contexts[sig], r.context()); !ok {
			return nil, fmt.Errorf("table[%d].context: %q does not apply to %s (use %s)", i, r.context(), sig, strings.Join(contexts[sig], " or "))
		}
		to, err := pick(fmt.Sprintf("table[%d].pipelines", i), r.Pipelines)
		if err != nil {
			return nil, err
		}
		c.routes = append(c.routes, table{compiled: cond, copy: r.Action == "copy", to: to})
	}
	if len(cfg.DefaultPipelines) > 0 {
		def, err := pick("default_pipelines", cfg.DefaultPipelines)
		if err != nil {
			return nil, err
		}
		c.def = def
	}
	return c, nil
}

var contexts = map[pipeline.Signal][]string{
	pipeline.SignalTraces:  {"resource", "span"},
	pipeline.SignalMetrics: {"resource", "metric"},
	pipeline.SignalLogs:    {"resource", "log"},
}

// Start does nothing.
func (*Connector) Start(context.Context) error { return nil }

// Shutdown does nothing: the connector holds no data.
func (*Connector) Shutdown(context.Context) error { return nil }
