// Package config loads, defaults and validates the TOML configuration of otlp-server.
//
// Components are named "type" or "type/name" (as in the OpenTelemetry Collector), each decoded
// into its own package's Config over that package's defaults. Unknown keys are errors that name
// the key, so a typo never silently falls back to a default.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/otlp-dev/otlp/internal/admin"
	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/components"
	"github.com/otlp-dev/otlp/internal/exporter/debug"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/otlpfile"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/processor/batch"
	"github.com/otlp-dev/otlp/internal/processor/memlimit"
	"github.com/otlp-dev/otlp/internal/receiver"
	"github.com/otlp-dev/otlp/internal/receiver/hostmetrics"
	"github.com/otlp-dev/otlp/internal/tomlx"
	"github.com/otlp-dev/otlp/resilience"
)

// EnvConfigPath names the environment variable holding the config file path.
const EnvConfigPath = "OTLP_CONFIG_PATH"

// Config is the whole file.
type Config struct {
	OTLP       OTLP
	Admin      admin.Config
	Receivers  map[string]Component
	Processors map[string]Component
	Exporters  map[string]Component
	Connectors map[string]Component
	Pipelines  map[string]Pipeline
	// Services are the side services, by type: each is configured by a top-level table named
	// after its type ([alerting]) and runs when that table is present.
	Services map[string]Component
}

// OTLP is the [otlp] section, shared with the Go SDK (see otlpfile).
type OTLP = otlpfile.OTLP

// Transport is [otlp.transport].
type Transport = otlpfile.Transport

// Pipeline is one [pipelines.<signal>[/name]] section. Receivers and exporters name receivers
// and exporters or connectors.
type Pipeline struct {
	Receivers  []string `toml:"receivers"`
	Processors []string `toml:"processors"`
	Exporters  []string `toml:"exporters"`
}

// Component is one configured component: its type and its decoded configuration (a pointer to
// the component package's Config, made by its factory).
type Component struct {
	Type   string
	Config component.Config
}

// Receiver, Processor and Exporter are configured components of each kind.
type (
	Receiver  = Component
	Processor = Component
	Exporter  = Component
)

// Durable reports whether the component is an exporter that keeps a disk queue, so that data
// is safe once it accepted it.
func (c Component) Durable() bool {
	d, ok := c.Config.(sender.Deliverer)
	return ok && d.Delivery().Queue.Durable()
}

// batchesQueue reports whether the component is an exporter that merges batches after its
// sending queue.
func (c Component) batchesQueue() bool {
	d, ok := c.Config.(sender.Deliverer)
	return ok && d.Delivery().BatchesQueue()
}

// section returns the components of a kind.
func (c *Config) section(k component.Kind) map[string]Component {
	switch k {
	case component.KindReceiver:
		return c.Receivers
	case component.KindProcessor:
		return c.Processors
	case component.KindExporter:
		return c.Exporters
	}
	return c.Connectors
}

// file is the raw shape decoded first; components stay undecoded until their type is known.
type fileShape struct {
	OTLP       OTLP                      `toml:"otlp"`
	Admin      admin.Config              `toml:"admin"`
	Receivers  map[string]toml.Primitive `toml:"receivers"`
	Processors map[string]toml.Primitive `toml:"processors"`
	Exporters  map[string]toml.Primitive `toml:"exporters"`
	Connectors map[string]toml.Primitive `toml:"connectors"`
	Pipelines  map[string]Pipeline       `toml:"pipelines"`
}

// Default is the configuration used when no file is given: receive OTLP on the default ports
// and log a one-line summary per batch.
func Default() *Config {
	c, err := Parse(nil, nil)
	if err != nil {
		panic("config: defaults do not validate: " + err.Error())
	}
	return c
}

// Profile selects the built-in defaults: the same configuration schema serves otlp-server and
// otlp-agent, which differ only in what a file leaves out.
type Profile uint8

const (
	// ProfileServer: default pipelines end in the debug exporter, or the [otlp.transport]
	// upstream when one is set.
	ProfileServer Profile = iota
	// ProfileAgent: default pipelines also take the node's host metrics and forward to the
	// collectors of [otlp.transport] (or OTLP_COLLECTOR_ENDPOINT).
	ProfileAgent
)

// Getenv looks up an environment variable; ok is false when it is not set (os.LookupEnv).
type Getenv = tomlx.Getenv

// Load reads path ("" means no file: defaults only), applies environment overrides from
// getenv (nil: os.LookupEnv), fills the server's defaults and validates.
func Load(path string, getenv Getenv) (*Config, error) {
	return LoadProfile(ProfileServer, path, getenv)
}

// LoadProfile is Load with the defaults of profile.
func LoadProfile(profile Profile, path string, getenv Getenv) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	c, err := ParseProfile(profile, data, getenv)
	if err != nil && path != "" {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, err
}

// Parse decodes TOML text. ${VAR} and ${VAR:-default} references in string values are
// replaced by the environment's values after parsing (see internal/tomlx), so secrets can stay
// out of the file; an unset variable without a default is an error naming its key.
func Parse(data []byte, getenv Getenv) (*Config, error) {
	return ParseProfile(ProfileServer, data, getenv)
}

// ParseProfile is Parse with the defaults of profile.
func ParseProfile(profile Profile, data []byte, getenv Getenv) (*Config, error) {
	return ParseWith(components.Default(), profile, data, getenv)
}

// ParseWith is ParseProfile with the component types of factories.
func ParseWith(factories component.Factories, profile Profile, data []byte, getenv Getenv) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	exp, err := tomlx.Expand(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	raw := fileShape{OTLP: defaultOTLP(profile), Admin: admin.NewDefaultConfig()}
	md, err := toml.Decode(exp.Text, &raw)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var checks []error
	checks = append(checks, tomlx.Check(tomlx.Table(exp.Raw, "otlp"), raw.OTLP, "otlp"),
		tomlx.Check(tomlx.Table(exp.Raw, "admin"), raw.Admin, "admin"))
	c := &Config{OTLP: raw.OTLP, Admin: raw.Admin, Pipelines: raw.Pipelines,
		Receivers: map[string]Component{}, Processors: map[string]Component{}, Exporters: map[string]Component{}, Connectors: map[string]Component{},
		Services: map[string]Component{}}
	var errs []string
	for _, err := range checks {
		if err != nil {
			errs = append(errs, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
	}
	sections := map[component.Kind]map[string]toml.Primitive{component.KindReceiver: raw.Receivers,
		component.KindProcessor: raw.Processors, component.KindExporter: raw.Exporters, component.KindConnector: raw.Connectors}
	for _, kind := range component.Kinds {
		prims := sections[kind]
		for _, name := range sortedKeys(prims) {
			comp, err := decodeComponent(factories, md, kind, name, prims[name])
			if err == nil {
				err = tomlx.Check(tomlx.Table(exp.Raw, kind.Section(), name), comp.Config, kind.Section()+"."+name)
			}
			if err != nil {
				errs = append(errs, strings.ReplaceAll(err.Error(), "\n", "; "))
				continue
			}
			c.section(kind)[name] = comp
		}
	}
	errs = append(errs, decodeServices(factories, exp, c)...)
	applyResilienceDefaults(c, raw.OTLP.Resilience, md)
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] == "sdk" {
			continue // the Go SDK's section: one file can serve a service and its collector; the SDK checks it
		}
		if _, ok := factories.Lookup(component.KindService, k[0]); ok {
			continue // a service's table: decoded and checked (or reported) by decodeServices
		}
		errs = append(errs, fmt.Sprintf("%s: unknown key", k))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	if err := applyEnv(c, getenv); err != nil {
		return nil, err
	}
	c.fillDefaults(profile)
	c.applyListenHost()
	if err := c.ValidateWith(factories); err != nil {
		return nil, err
	}
	return c, nil
}

// applyListenHost moves every listen address still at its default to otlp.listen_host.
func (c *Config) applyListenHost() {
	h := c.OTLP.ListenHost
	if h == "" {
		return
	}
	move := func(ep *string, def string) {
		if *ep == def {
			_, port, _ := net.SplitHostPort(def)
			*ep = net.JoinHostPort(h, port)
		}
	}
	move(&c.Admin.Endpoint, admin.DefaultEndpoint)
	for _, r := range c.Receivers {
		if l, ok := r.Config.(component.Listener); ok {
			for _, ep := range l.Endpoints() {
				move(ep.Addr, ep.Default)
			}
		}
	}
}

func defaultOTLP(profile Profile) OTLP {
	name := "otlp-server"
	if profile == ProfileAgent {
		name = "otlp-agent"
	}
	return OTLP{
		Environment: "development", ServiceName: name, LogLevel: "info", LogFormat: "text",
		ShutdownTimeout: 30 * time.Second,
		GCPercent:       50,
		Resilience:      resilience.NewDefaultConfig(),
		Transport:       Transport{Protocol: "grpc", Timeout: 10 * time.Second, RetryAttempts: 0, Compression: "gzip"},
	}
}

func typeOf(name string) string { return component.TypeOf(name) }

// decodeComponent decodes a component's table over its factory's defaults.
func decodeComponent(f component.Factories, md toml.MetaData, kind component.Kind, name string, p toml.Primitive) (Component, error) {
	key := kind.Section() + "." + name
	fac, ok := f.Lookup(kind, typeOf(name))
	if !ok {
		return Component{}, fmt.Errorf("%s: %w", key, f.UnknownType(kind, typeOf(name)))
	}
	cfg := fac.NewDefaultConfig()
	if err := md.PrimitiveDecode(p, cfg); err != nil {
		return Component{}, fmt.Errorf("%s: %w", key, err)
	}
	return Component{Type: fac.Type(), Config: cfg}, nil
}

// decodeServices decodes the top-level table of each side service present in the file.
func decodeServices(f component.Factories, exp *tomlx.Expanded, c *Config) []string {
	types := f.Types(component.KindService)
	if len(types) == 0 {
		return nil
	}
	var top map[string]toml.Primitive
	md, err := toml.Decode(exp.Text, &top)
	if err != nil {
		return []string{err.Error()} // not reached: the same text decoded once already
	}
	var errs []string
	for _, typ := range types {
		p, ok := top[typ]
		if !ok {
			continue
		}
		fac, _ := f.Lookup(component.KindService, typ)
		cfg := fac.NewDefaultConfig()
		if err := md.PrimitiveDecode(p, cfg); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", typ, err))
			continue
		}
		if err := tomlx.Check(tomlx.Table(exp.Raw, typ), cfg, typ); err != nil {
			errs = append(errs, strings.ReplaceAll(err.Error(), "\n", "; "))
			continue
		}
		c.Services[typ] = Component{Type: typ, Config: cfg}
	}
	for _, k := range md.Undecoded() {
		if _, ok := c.Services[k[0]]; ok && len(k) > 1 {
			errs = append(errs, fmt.Sprintf("%s: unknown key", k))
		}
	}
	return errs
}

// fillDefaults adds the receiver, processors and pipelines a file left out.
func (c *Config) fillDefaults(profile Profile) {
	if len(c.Pipelines) > 0 {
		return
	}
	// No pipelines: every signal from the default OTLP receiver, through the memory limiter
	// and batcher, to the upstream of [otlp.transport] or else to the debug exporter.
	if _, ok := c.Receivers["otlp"]; !ok {
		c.Receivers["otlp"] = defaultReceiver()
	}
	if _, ok := c.Processors["memory_limiter"]; !ok {
		cfg := memlimit.NewDefaultConfig()
		c.Processors["memory_limiter"] = Processor{Type: "memory_limiter", Config: &cfg}
	}
	if _, ok := c.Processors["batch"]; !ok {
		cfg := batch.NewDefaultConfig()
		c.Processors["batch"] = Processor{Type: "batch", Config: &cfg}
	}
	receivers := []string{"otlp"}
	if profile == ProfileAgent {
		if _, ok := c.Receivers["hostmetrics"]; !ok {
			cfg := hostmetrics.NewDefaultConfig()
			c.Receivers["hostmetrics"] = Receiver{Type: "hostmetrics", Config: &cfg}
		}
		if c.OTLP.Transport.QueueDir == "" {
			c.OTLP.Transport.QueueDir = DefaultAgentQueueDir
		}
	}
	exporter := "debug"
	if len(c.OTLP.Transport.Endpoints) > 0 {
		exporter = UpstreamExporter
		if _, ok := c.Exporters[exporter]; !ok {
			c.Exporters[exporter] = transportExporter(c.OTLP.Transport)
		}
	} else if _, ok := c.Exporters["debug"]; !ok {
		cfg := debug.NewDefaultConfig()
		c.Exporters["debug"] = Exporter{Type: "debug", Config: &cfg}
	}
	processors := []string{"memory_limiter", "batch"}
	if e := c.Exporters[exporter]; e.Durable() && e.batchesQueue() {
		// The exporter batches after its disk queue; a batch processor in front would hold
		// every sender until its batch is flushed.
		processors = processors[:1]
	}
	c.Pipelines = map[string]Pipeline{}
	for _, sig := range pipeline.Signals {
		rs := receivers
		if sig == pipeline.SignalMetrics && profile == ProfileAgent {
			rs = []string{"otlp", "hostmetrics"}
		}
		c.Pipelines[sig.String()] = Pipeline{Receivers: rs, Processors: processors, Exporters: []string{exporter}}
	}
}

func defaultReceiver() Receiver {
	cfg := receiver.NewDefaultConfig()
	return Receiver{Type: "otlp", Config: &cfg}
}

// DefaultAgentQueueDir is where the agent keeps undelivered data when no queue_dir is set
// (relative to its working directory).
const DefaultAgentQueueDir = "otlp-agent-queue"

// UpstreamExporter names the exporter made from [otlp.transport] for the default pipelines.
const UpstreamExporter = "otlp/upstream"

// SignalOf returns the signal of a pipeline named "traces", "metrics/x", ….
func SignalOf(pipelineName string) (pipeline.Signal, error) {
	return pipeline.ParseSignal(typeOf(pipelineName))
}

// Validate checks every component and the pipelines against the built-in component types.
func (c *Config) Validate() error { return c.ValidateWith(components.Default()) }

// ValidateWith checks every component, that pipelines only name configured components of
// the pipeline's signal, and that connectors join pipelines without a cycle.
func (c *Config) ValidateWith(f component.Factories) error {
	var errs []string
	add := func(prefix string, err error) {
		if err != nil {
			errs = append(errs, prefix+err.Error())
		}
	}
	add("otlp.", validateOTLP(c.OTLP))
	add("admin.", c.Admin.Validate())
	for _, kind := range component.Kinds {
		sec := c.section(kind)
		for _, name := range sortedKeys(sec) {
			comp := sec[name]
			if _, ok := f.Lookup(kind, comp.Type); !ok {
				add(kind.Section()+"."+name+": ", f.UnknownType(kind, comp.Type))
				continue
			}
			add(kind.Section()+"."+name+".", comp.Config.Validate())
		}
	}
	for _, typ := range sortedKeys(c.Services) {
		comp := c.Services[typ]
		if _, ok := f.Lookup(component.KindService, comp.Type); !ok {
			add(typ+": ", f.UnknownType(component.KindService, comp.Type))
			continue
		}
		add(typ+".", comp.Config.Validate())
	}
	for _, name := range sortedKeys(c.Connectors) {
		if _, ok := c.Receivers[name]; ok {
			errs = append(errs, fmt.Sprintf("connectors.%s: receivers.%s has the same name; a pipeline could not tell them apart", name, name))
		}
		if _, ok := c.Exporters[name]; ok {
			errs = append(errs, fmt.Sprintf("connectors.%s: exporters.%s has the same name; a pipeline could not tell them apart", name, name))
		}
	}
	if len(c.Pipelines) == 0 {
		errs = append(errs, "pipelines: at least one pipeline is required")
	}
	// signals a connector takes (as an exporter) and feeds (as a receiver), by pipeline.
	connIn, connOut := map[string][]pipeline.Signal{}, map[string][]pipeline.Signal{}
	for _, name := range sortedKeys(c.Pipelines) {
		p := c.Pipelines[name]
		key := "pipelines." + name
		sig, sigErr := SignalOf(name)
		if sigErr != nil {
			errs = append(errs, key+": "+sigErr.Error())
		}
		if len(p.Receivers) == 0 {
			errs = append(errs, key+".receivers: at least one receiver is required")
		}
		if len(p.Exporters) == 0 {
			errs = append(errs, key+".exporters: at least one exporter is required")
		}
		check := func(field string, kind component.Kind, names []string) {
			for _, n := range names {
				comp, ok := c.section(kind)[n]
				isConn := false
				if !ok && kind != component.KindProcessor {
					comp, ok = c.Connectors[n]
					isConn = ok
				}
				switch {
				case !ok:
					errs = append(errs, fmt.Sprintf("%s.%s: %q is not configured", key, field, n))
				case sigErr != nil:
				case isConn && kind == component.KindReceiver:
					connOut[n] = append(connOut[n], sig)
				case isConn:
					if fac, ok := f.Lookup(component.KindConnector, comp.Type); ok && !component.Supports(fac, sig) {
						errs = append(errs, fmt.Sprintf("%s.%s: connector %q does not take %s", key, field, n, sig))
					}
					connIn[n] = append(connIn[n], sig)
				default:
					if fac, ok := f.Lookup(kind, comp.Type); ok && !component.Supports(fac, sig) {
						verb := map[component.Kind]string{component.KindReceiver: "produces no", component.KindProcessor: "does not support", component.KindExporter: "does not support"}[kind]
						errs = append(errs, fmt.Sprintf("%s.%s: %s %q %s %s", key, field, kind, n, verb, sig))
					}
				}
			}
			if dup := firstDuplicate(names); dup != "" {
				errs = append(errs, fmt.Sprintf("%s.%s: %q is listed twice", key, field, dup))
			}
		}
		check("receivers", component.KindReceiver, p.Receivers)
		check("processors", component.KindProcessor, p.Processors)
		check("exporters", component.KindExporter, p.Exporters)
	}
	for _, name := range sortedKeys(c.Connectors) {
		ins, outs := connIn[name], connOut[name]
		switch {
		case len(ins) == 0 && len(outs) == 0:
			continue // configured but unused, as an unused exporter
		case len(ins) == 0:
			errs = append(errs, fmt.Sprintf("connectors.%s: feeds pipelines but no pipeline lists it as an exporter", name))
			continue
		case len(outs) == 0:
			errs = append(errs, fmt.Sprintf("connectors.%s: takes data but no pipeline lists it as a receiver", name))
			continue
		}
		fac, ok := f.Lookup(component.KindConnector, c.Connectors[name].Type)
		if !ok {
			continue
		}
		for _, out := range uniqueSignals(outs) {
			fed := false
			for _, in := range uniqueSignals(ins) {
				fed = fed || slices.Contains(fac.(component.ConnectorFactory).Outputs(in), out)
			}
			if !fed {
				errs = append(errs, fmt.Sprintf("connectors.%s: cannot feed %s pipelines from %s", name, out, joinSignals(uniqueSignals(ins))))
			}
		}
	}
	if cyc := c.connectorCycle(); cyc != "" {
		errs = append(errs, "pipelines: connectors form a cycle: "+cyc)
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// connectorCycle returns a cycle of pipelines joined by connectors ("a -> b -> a"), or "".
func (c *Config) connectorCycle() string {
	next := map[string][]string{} // pipeline → pipelines it feeds through a connector
	for _, from := range sortedKeys(c.Pipelines) {
		for _, e := range c.Pipelines[from].Exporters {
			if _, ok := c.Connectors[e]; !ok {
				continue
			}
			for _, to := range sortedKeys(c.Pipelines) {
				if slices.Contains(c.Pipelines[to].Receivers, e) {
					next[from] = append(next[from], to)
				}
			}
		}
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(p string) string
	visit = func(p string) string {
		state[p] = onPath
		path = append(path, p)
		for _, q := range next[p] {
			switch state[q] {
			case onPath:
				i := slices.Index(path, q)
				return strings.Join(append(slices.Clone(path[i:]), q), " -> ")
			case unseen:
				if cyc := visit(q); cyc != "" {
					return cyc
				}
			}
		}
		path = path[:len(path)-1]
		state[p] = done
		return ""
	}
	for _, p := range sortedKeys(c.Pipelines) {
		if state[p] == unseen {
			if cyc := visit(p); cyc != "" {
				return cyc
			}
		}
	}
	return ""
}

func uniqueSignals(s []pipeline.Signal) []pipeline.Signal {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func joinSignals(s []pipeline.Signal) string {
	names := make([]string, len(s))
	for i, x := range s {
		names[i] = x.String()
	}
	return strings.Join(names, ", ")
}

func validateOTLP(o OTLP) error {
	if _, err := ParseLevel(o.LogLevel); err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	if o.LogFormat != "text" && o.LogFormat != "json" {
		return fmt.Errorf("log_format: %q is neither text nor json", o.LogFormat)
	}
	if o.ShutdownTimeout <= 0 {
		return fmt.Errorf("shutdown_timeout: must be > 0, got %s", o.ShutdownTimeout)
	}
	if o.GCPercent < 10 || o.GCPercent > 1000 {
		return fmt.Errorf("gc_percent: must be between 10 and 1000, got %d", o.GCPercent)
	}
	if err := o.Resilience.Validate(); err != nil {
		return fmt.Errorf("resilience.%w", err)
	}
	t := o.Transport
	if t.Protocol != "grpc" && t.Protocol != "http" {
		return fmt.Errorf("transport.protocol: %q is neither grpc nor http", t.Protocol)
	}
	if t.Timeout <= 0 {
		return fmt.Errorf("transport.timeout: must be > 0, got %s", t.Timeout)
	}
	if t.RetryAttempts < 0 {
		return fmt.Errorf("transport.retry_attempts: must be >= 0, got %d", t.RetryAttempts)
	}
	return nil
}

// ParseLevel maps a log_level value to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func firstDuplicate(names []string) string {
	for i, n := range names {
		if slices.Contains(names[:i], n) {
			return n
		}
	}
	return ""
}
