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
	"github.com/otlp-dev/otlp/internal/exporter/debug"
	"github.com/otlp-dev/otlp/internal/exporter/file"
	"github.com/otlp-dev/otlp/internal/exporter/nop"
	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/otlphttp"
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
	Receivers  map[string]Receiver
	Processors map[string]Processor
	Exporters  map[string]Exporter
	Pipelines  map[string]Pipeline
}

// OTLP is the [otlp] section, shared with the Go SDK (see otlpfile).
type OTLP = otlpfile.OTLP

// Transport is [otlp.transport].
type Transport = otlpfile.Transport

// Pipeline is one [pipelines.<signal>[/name]] section.
type Pipeline struct {
	Receivers  []string `toml:"receivers"`
	Processors []string `toml:"processors"`
	Exporters  []string `toml:"exporters"`
}

// Receiver is a configured receiver; Type says which field is set.
type Receiver struct {
	Type        string
	OTLP        *receiver.Config
	HostMetrics *hostmetrics.Config
}

// Signals reports which signals the receiver can produce.
func (r Receiver) Signals() []pipeline.Signal {
	if r.HostMetrics != nil {
		return []pipeline.Signal{pipeline.SignalMetrics}
	}
	return pipeline.Signals[:]
}

// config is the component's decoded configuration, for checks that walk its type.
func (r Receiver) config() any {
	if r.HostMetrics != nil {
		return *r.HostMetrics
	}
	return *r.OTLP
}

func (p Processor) config() any {
	if p.Batch != nil {
		return *p.Batch
	}
	return *p.MemoryLimiter
}

func (r Receiver) validate() error {
	switch {
	case r.OTLP != nil:
		return r.OTLP.Validate()
	case r.HostMetrics != nil:
		return r.HostMetrics.Validate()
	}
	return nil
}

// Processor is a configured processor.
type Processor struct {
	Type          string
	Batch         *batch.Config
	MemoryLimiter *memlimit.Config
}

// Exporter is a configured exporter.
type Exporter struct {
	Type     string
	OTLP     *otlpgrpc.Config
	OTLPHTTP *otlphttp.Config
	Debug    *debug.Config
	File     *file.Config
	Nop      *nop.Config
}

// file is the raw shape decoded first; components stay undecoded until their type is known.
type fileShape struct {
	OTLP       OTLP                      `toml:"otlp"`
	Admin      admin.Config              `toml:"admin"`
	Receivers  map[string]toml.Primitive `toml:"receivers"`
	Processors map[string]toml.Primitive `toml:"processors"`
	Exporters  map[string]toml.Primitive `toml:"exporters"`
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
		Receivers: map[string]Receiver{}, Processors: map[string]Processor{}, Exporters: map[string]Exporter{}}
	var errs []string
	for _, err := range checks {
		if err != nil {
			errs = append(errs, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
	}
	for _, name := range sortedKeys(raw.Receivers) {
		r, err := decodeReceiver(md, name, raw.Receivers[name])
		if err == nil {
			err = tomlx.Check(tomlx.Table(exp.Raw, "receivers", name), r.config(), "receivers."+name)
		}
		if err != nil {
			errs = append(errs, strings.ReplaceAll(err.Error(), "\n", "; "))
			continue
		}
		c.Receivers[name] = r
	}
	for _, name := range sortedKeys(raw.Processors) {
		p, err := decodeProcessor(md, name, raw.Processors[name])
		if err == nil {
			err = tomlx.Check(tomlx.Table(exp.Raw, "processors", name), p.config(), "processors."+name)
		}
		if err != nil {
			errs = append(errs, strings.ReplaceAll(err.Error(), "\n", "; "))
			continue
		}
		c.Processors[name] = p
	}
	for _, name := range sortedKeys(raw.Exporters) {
		e, err := decodeExporter(md, name, raw.Exporters[name])
		if err == nil {
			err = tomlx.Check(tomlx.Table(exp.Raw, "exporters", name), e.config(), "exporters."+name)
		}
		if err != nil {
			errs = append(errs, strings.ReplaceAll(err.Error(), "\n", "; "))
			continue
		}
		c.Exporters[name] = e
	}
	applyResilienceDefaults(c, raw.OTLP.Resilience, md)
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] == "sdk" {
			continue // the Go SDK's section: one file can serve a service and its collector; the SDK checks it
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
	if err := c.Validate(); err != nil {
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
	for name, r := range c.Receivers {
		if r.OTLP != nil {
			move(&r.OTLP.GRPC.Endpoint, receiver.DefaultGRPCEndpoint)
			move(&r.OTLP.HTTP.Endpoint, receiver.DefaultHTTPEndpoint)
			c.Receivers[name] = r
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

func typeOf(name string) string {
	t, _, _ := strings.Cut(name, "/")
	return t
}

func decodeReceiver(md toml.MetaData, name string, p toml.Primitive) (Receiver, error) {
	switch typeOf(name) {
	case "otlp":
		cfg := receiver.NewDefaultConfig()
		if err := md.PrimitiveDecode(p, &cfg); err != nil {
			return Receiver{}, fmt.Errorf("receivers.%s: %w", name, err)
		}
		return Receiver{Type: "otlp", OTLP: &cfg}, nil
	case "hostmetrics":
		cfg := hostmetrics.NewDefaultConfig()
		if err := md.PrimitiveDecode(p, &cfg); err != nil {
			return Receiver{}, fmt.Errorf("receivers.%s: %w", name, err)
		}
		return Receiver{Type: "hostmetrics", HostMetrics: &cfg}, nil
	}
	return Receiver{}, fmt.Errorf("receivers.%s: unknown receiver type %q (known: otlp, hostmetrics)", name, typeOf(name))
}

func decodeProcessor(md toml.MetaData, name string, p toml.Primitive) (Processor, error) {
	switch typeOf(name) {
	case "batch":
		cfg := batch.NewDefaultConfig()
		if err := md.PrimitiveDecode(p, &cfg); err != nil {
			return Processor{}, fmt.Errorf("processors.%s: %w", name, err)
		}
		return Processor{Type: "batch", Batch: &cfg}, nil
	case "memory_limiter":
		cfg := memlimit.NewDefaultConfig()
		if err := md.PrimitiveDecode(p, &cfg); err != nil {
			return Processor{}, fmt.Errorf("processors.%s: %w", name, err)
		}
		return Processor{Type: "memory_limiter", MemoryLimiter: &cfg}, nil
	}
	return Processor{}, fmt.Errorf("processors.%s: unknown processor type %q (known: batch, memory_limiter)", name, typeOf(name))
}

func decodeExporter(md toml.MetaData, name string, p toml.Primitive) (Exporter, error) {
	e := Exporter{Type: typeOf(name)}
	var err error
	switch e.Type {
	case "otlp":
		cfg := otlpgrpc.NewDefaultConfig()
		err, e.OTLP = md.PrimitiveDecode(p, &cfg), &cfg
	case "otlphttp":
		cfg := otlphttp.NewDefaultConfig()
		err, e.OTLPHTTP = md.PrimitiveDecode(p, &cfg), &cfg
	case "debug":
		cfg := debug.NewDefaultConfig()
		err, e.Debug = md.PrimitiveDecode(p, &cfg), &cfg
	case "file":
		cfg := file.NewDefaultConfig()
		err, e.File = md.PrimitiveDecode(p, &cfg), &cfg
	case "nop":
		cfg := nop.NewDefaultConfig()
		err, e.Nop = md.PrimitiveDecode(p, &cfg), &cfg
	default:
		return e, fmt.Errorf("exporters.%s: unknown exporter type %q (known: otlp, otlphttp, debug, file, nop)", name, e.Type)
	}
	if err != nil {
		return e, fmt.Errorf("exporters.%s: %w", name, err)
	}
	return e, nil
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
		c.Processors["memory_limiter"] = Processor{Type: "memory_limiter", MemoryLimiter: &cfg}
	}
	if _, ok := c.Processors["batch"]; !ok {
		cfg := batch.NewDefaultConfig()
		c.Processors["batch"] = Processor{Type: "batch", Batch: &cfg}
	}
	receivers := []string{"otlp"}
	if profile == ProfileAgent {
		if _, ok := c.Receivers["hostmetrics"]; !ok {
			cfg := hostmetrics.NewDefaultConfig()
			c.Receivers["hostmetrics"] = Receiver{Type: "hostmetrics", HostMetrics: &cfg}
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
		c.Exporters["debug"] = Exporter{Type: "debug", Debug: &cfg}
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
	return Receiver{Type: "otlp", OTLP: &cfg}
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

// Validate checks every component and that pipelines only name configured ones.
func (c *Config) Validate() error {
	var errs []string
	add := func(prefix string, err error) {
		if err != nil {
			errs = append(errs, prefix+err.Error())
		}
	}
	add("otlp.", validateOTLP(c.OTLP))
	add("admin.", c.Admin.Validate())
	for _, name := range sortedKeys(c.Receivers) {
		add("receivers."+name+".", c.Receivers[name].validate())
	}
	for _, name := range sortedKeys(c.Processors) {
		p := c.Processors[name]
		switch {
		case p.Batch != nil:
			add("processors."+name+".", p.Batch.Validate())
		case p.MemoryLimiter != nil:
			add("processors."+name+".", p.MemoryLimiter.Validate())
		}
	}
	for _, name := range sortedKeys(c.Exporters) {
		add("exporters."+name+".", c.Exporters[name].validate())
	}
	if len(c.Pipelines) == 0 {
		errs = append(errs, "pipelines: at least one pipeline is required")
	}
	used := map[string]bool{}
	for _, name := range sortedKeys(c.Pipelines) {
		p := c.Pipelines[name]
		key := "pipelines." + name
		if _, err := SignalOf(name); err != nil {
			errs = append(errs, key+": "+err.Error())
		}
		if len(p.Receivers) == 0 {
			errs = append(errs, key+".receivers: at least one receiver is required")
		}
		if len(p.Exporters) == 0 {
			errs = append(errs, key+".exporters: at least one exporter is required")
		}
		check := func(field string, names []string, exists func(string) bool) {
			for _, n := range names {
				if !exists(n) {
					errs = append(errs, fmt.Sprintf("%s.%s: %q is not configured", key, field, n))
				}
				used[field+"."+n] = true
			}
			if dup := firstDuplicate(names); dup != "" {
				errs = append(errs, fmt.Sprintf("%s.%s: %q is listed twice", key, field, dup))
			}
		}
		check("receivers", p.Receivers, func(n string) bool { _, ok := c.Receivers[n]; return ok })
		if sig, err := SignalOf(name); err == nil {
			for _, n := range p.Receivers {
				if r, ok := c.Receivers[n]; ok && !slices.Contains(r.Signals(), sig) {
					errs = append(errs, fmt.Sprintf("%s.receivers: %q produces no %s", key, n, sig))
				}
			}
		}
		check("processors", p.Processors, func(n string) bool { _, ok := c.Processors[n]; return ok })
		check("exporters", p.Exporters, func(n string) bool { _, ok := c.Exporters[n]; return ok })
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	return nil
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
