// Package component defines the factories every receiver, processor, exporter and connector
// is built from, and what the host hands the components it creates.
//
// A factory names its type, the signals it supports and its default configuration, and creates
// instances from a decoded configuration. The server's factories are listed once, in
// internal/components; config decoding, --check-config and graph building read that list, so a
// new component touches its own package and one line of the list.
package component

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

// Kind is the role a component plays in a pipeline.
type Kind uint8

const (
	KindReceiver Kind = iota + 1
	KindProcessor
	KindExporter
	KindConnector
	// KindService is a side service: beside the data path, configured by a top-level table.
	KindService
)

// Kinds lists the kinds of pipeline components in the order their sections appear in a
// configuration file (side services have a table each instead).
var Kinds = [...]Kind{KindReceiver, KindProcessor, KindExporter, KindConnector}

func (k Kind) String() string {
	switch k {
	case KindReceiver:
		return "receiver"
	case KindProcessor:
		return "processor"
	case KindExporter:
		return "exporter"
	case KindConnector:
		return "connector"
	case KindService:
		return "service"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Section is the configuration table the kind's components are declared in ("receivers", …).
func (k Kind) Section() string { return k.String() + "s" }

// Config is a component's decoded configuration: a pointer to its package's Config struct.
type Config interface {
	Validate() error
}

// Settings are what the host gives every component it creates.
type Settings struct {
	// ID is the component's name in the configuration: "type" or "type/name".
	ID      string
	Logger  *slog.Logger
	Metrics *selftel.Metrics
	// Resource holds attributes describing the host (deployment.environment.name), for
	// components that make data of their own.
	Resource map[string]string
}

// PipelineSettings tell a processor where it runs.
type PipelineSettings struct {
	Settings
	// Pipeline is the name of the pipeline ("traces/in").
	Pipeline string
	Signal   pipeline.Signal
	// Durable is set when an exporter at the end of the pipeline keeps a disk queue, so that
	// a stage holding data acknowledges only what reached it.
	Durable bool
}

// Component is the lifecycle of every instance (see pipeline.Component).
type Component = pipeline.Component

// Receiver brings data into pipelines.
type Receiver interface {
	Component
}

// Processor is a pipeline stage.
type Processor interface {
	Component
	pipeline.Consumer
}

// Exporter ends a pipeline.
type Exporter interface {
	Component
	pipeline.Consumer
}

// Connector ends one pipeline and feeds others, possibly of another signal.
type Connector interface {
	Component
	pipeline.Consumer
}

// Consumers are a receiver's pipelines, one consumer per signal; nil where no pipeline takes
// the signal.
type Consumers [4]pipeline.Consumer

// Get returns the consumer of sig, nil when none.
func (c Consumers) Get(sig pipeline.Signal) pipeline.Consumer {
	if int(sig) >= len(c) {
		return nil
	}
	return c[sig]
}

// Empty reports whether no signal has a consumer.
func (c Consumers) Empty() bool {
	for _, x := range c {
		if x != nil {
			return false
		}
	}
	return true
}

// Route is one pipeline a connector feeds.
type Route struct {
	Pipeline string
	Consumer pipeline.Consumer
}

// Routes are the pipelines a connector feeds for one output signal, sorted by name.
type Routes []Route

// Get returns the consumer of the named pipeline.
func (r Routes) Get(name string) (pipeline.Consumer, bool) {
	for _, x := range r {
		if x.Pipeline == name {
			return x.Consumer, true
		}
	}
	return nil, false
}

// Fanout delivers to every route.
func (r Routes) Fanout() pipeline.Consumer {
	if len(r) == 1 {
		return r[0].Consumer
	}
	f := make(pipeline.Fanout, len(r))
	for i, x := range r {
		f[i] = x.Consumer
	}
	return f
}

// Factory describes one component type.
type Factory interface {
	// Type is the name used in configuration ("otlp", "batch").
	Type() string
	Kind() Kind
	// Signals a receiver produces, or a processor, exporter or connector accepts.
	Signals() []pipeline.Signal
	// NewDefaultConfig returns a fresh configuration holding every default; the file's
	// table is decoded over it.
	NewDefaultConfig() Config
}

// ReceiverFactory creates receivers. One instance serves every signal of the receiver.
type ReceiverFactory interface {
	Factory
	// CreateReceiver returns nil, nil when the receiver has nothing to do for next.
	CreateReceiver(ctx context.Context, set Settings, cfg Config, next Consumers) (Receiver, error)
}

// ProcessorFactory creates one processor per pipeline it is listed in.
type ProcessorFactory interface {
	Factory
	CreateProcessor(ctx context.Context, set PipelineSettings, cfg Config, next pipeline.Consumer) (Processor, error)
}

// ExporterFactory creates exporters; one instance serves every pipeline that lists it.
type ExporterFactory interface {
	Factory
	CreateExporter(ctx context.Context, set Settings, cfg Config) (Exporter, error)
}

// ConnectorFactory creates connectors, one per pair of input and output signal.
type ConnectorFactory interface {
	Factory
	// Outputs lists the signals the connector can feed from input signal in.
	Outputs(in pipeline.Signal) []pipeline.Signal
	CreateConnector(ctx context.Context, set Settings, cfg Config, in, out pipeline.Signal, next Routes) (Connector, error)
}

// Factories are the component types a host knows, by kind and type.
type Factories struct {
	byKind map[Kind]map[string]Factory
}

// NewFactories indexes fs; a type listed twice for one kind, or a factory that is none of
// the five kinds, is an error; so is a service type that is one of the file's own sections.
func NewFactories(fs ...Factory) (Factories, error) {
	out := Factories{byKind: map[Kind]map[string]Factory{}}
	for _, f := range fs {
		ok := false
		switch f.Kind() {
		case KindReceiver:
			_, ok = f.(ReceiverFactory)
		case KindProcessor:
			_, ok = f.(ProcessorFactory)
		case KindExporter:
			_, ok = f.(ExporterFactory)
		case KindConnector:
			_, ok = f.(ConnectorFactory)
		case KindService:
			_, ok = f.(ServiceFactory)
			if ok && reservedSection(f.Type()) {
				return Factories{}, fmt.Errorf("component: service type %q is a section of the configuration file; choose another", f.Type())
			}
		}
		if !ok {
			return Factories{}, fmt.Errorf("component: %s factory %q does not create %ss", f.Kind(), f.Type(), f.Kind())
		}
		m := out.byKind[f.Kind()]
		if m == nil {
			m = map[string]Factory{}
			out.byKind[f.Kind()] = m
		}
		if _, dup := m[f.Type()]; dup {
			return Factories{}, fmt.Errorf("component: %s type %q is listed twice", f.Kind(), f.Type())
		}
		m[f.Type()] = f
	}
	return out, nil
}

// IsZero reports whether f was never built (no types at all).
func (f Factories) IsZero() bool { return f.byKind == nil }

// Lookup returns the factory of a kind and type.
func (f Factories) Lookup(k Kind, typ string) (Factory, bool) {
	x, ok := f.byKind[k][typ]
	return x, ok
}

// Types lists the known types of a kind, sorted.
func (f Factories) Types(k Kind) []string {
	out := make([]string, 0, len(f.byKind[k]))
	for t := range f.byKind[k] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// UnknownType is the error for a type no factory has, naming the known ones.
func (f Factories) UnknownType(k Kind, typ string) error {
	return fmt.Errorf("unknown %s type %q (known: %s)", k, typ, strings.Join(f.Types(k), ", "))
}

// TypeOf returns the type of a component ID: "otlp" of "otlp/upstream".
func TypeOf(id string) string {
	t, _, _ := strings.Cut(id, "/")
	return t
}

// Supports reports whether the factory handles sig.
func Supports(f Factory, sig pipeline.Signal) bool { return slices.Contains(f.Signals(), sig) }

// Endpoint is an address a component listens on.
type Endpoint struct {
	// Key is the address's key within the component's table ("grpc.endpoint").
	Key string
	// Addr points into the configuration, so that the host can move a default address to
	// otlp.listen_host.
	Addr *string
	// Default is the address when the file sets none.
	Default string
}

// Listener is implemented by configurations of components that accept connections, so that
// listen_host applies to them and --check-config finds two listeners on one port.
type Listener interface {
	Endpoints() []Endpoint
}

// FileReader is implemented by configurations that read files at start (TLS certificates,
// token files): a reload restarts the component when one of them changed on disk.
type FileReader interface {
	Files() []string
}
