package component

import (
	"context"
	"fmt"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// AllSignals is every signal, for components that take any.
var AllSignals = pipeline.Signals[:]

// base holds what every typed factory shares.
type base[C Config] struct {
	typ     string
	kind    Kind
	signals []pipeline.Signal
	def     func() C
}

func (b base[C]) Type() string               { return b.typ }
func (b base[C]) Kind() Kind                 { return b.kind }
func (b base[C]) Signals() []pipeline.Signal { return b.signals }
func (b base[C]) NewDefaultConfig() Config   { return b.def() }
func (b base[C]) cast(cfg Config) (C, error) {
	c, ok := cfg.(C)
	if !ok {
		var zero C
		return zero, fmt.Errorf("%s %q: configuration is %T, want %T", b.kind, b.typ, cfg, zero)
	}
	return c, nil
}

// NewReceiverFactory makes a ReceiverFactory from a typed default and constructor; C is the
// pointer type of the package's Config.
func NewReceiverFactory[C Config](typ string, signals []pipeline.Signal, def func() C,
	create func(ctx context.Context, set Settings, cfg C, next Consumers) (Receiver, error)) ReceiverFactory {
	return receiverFactory[C]{base[C]{typ, KindReceiver, signals, def}, create}
}

type receiverFactory[C Config] struct {
	base[C]
	create func(context.Context, Settings, C, Consumers) (Receiver, error)
}

func (f receiverFactory[C]) CreateReceiver(ctx context.Context, set Settings, cfg Config, next Consumers) (Receiver, error) {
	c, err := f.cast(cfg)
	if err != nil {
		return nil, err
	}
	return f.create(ctx, set, c, next)
}

// NewProcessorFactory makes a ProcessorFactory from a typed default and constructor.
func NewProcessorFactory[C Config](typ string, signals []pipeline.Signal, def func() C,
	create func(ctx context.Context, set PipelineSettings, cfg C, next pipeline.Consumer) (Processor, error)) ProcessorFactory {
	return processorFactory[C]{base[C]{typ, KindProcessor, signals, def}, create}
}

type processorFactory[C Config] struct {
	base[C]
	create func(context.Context, PipelineSettings, C, pipeline.Consumer) (Processor, error)
}

func (f processorFactory[C]) CreateProcessor(ctx context.Context, set PipelineSettings, cfg Config, next pipeline.Consumer) (Processor, error) {
	c, err := f.cast(cfg)
	if err != nil {
		return nil, err
	}
	return f.create(ctx, set, c, next)
}

// NewExporterFactory makes an ExporterFactory from a typed default and constructor.
func NewExporterFactory[C Config](typ string, signals []pipeline.Signal, def func() C,
	create func(ctx context.Context, set Settings, cfg C) (Exporter, error)) ExporterFactory {
	return exporterFactory[C]{base[C]{typ, KindExporter, signals, def}, create}
}

type exporterFactory[C Config] struct {
	base[C]
	create func(context.Context, Settings, C) (Exporter, error)
}

func (f exporterFactory[C]) CreateExporter(ctx context.Context, set Settings, cfg Config) (Exporter, error) {
	c, err := f.cast(cfg)
	if err != nil {
		return nil, err
	}
	return f.create(ctx, set, c)
}

// NewConnectorFactory makes a ConnectorFactory; outputs lists what each input signal can feed.
func NewConnectorFactory[C Config](typ string, outputs map[pipeline.Signal][]pipeline.Signal, def func() C,
	create func(ctx context.Context, set Settings, cfg C, in, out pipeline.Signal, next Routes) (Connector, error)) ConnectorFactory {
	var ins []pipeline.Signal
	for _, s := range pipeline.Signals {
		if len(outputs[s]) > 0 {
			ins = append(ins, s)
		}
	}
	return connectorFactory[C]{base[C]{typ, KindConnector, ins, def}, outputs, create}
}

type connectorFactory[C Config] struct {
	base[C]
	outputs map[pipeline.Signal][]pipeline.Signal
	create  func(context.Context, Settings, C, pipeline.Signal, pipeline.Signal, Routes) (Connector, error)
}

func (f connectorFactory[C]) Outputs(in pipeline.Signal) []pipeline.Signal { return f.outputs[in] }

func (f connectorFactory[C]) CreateConnector(ctx context.Context, set Settings, cfg Config, in, out pipeline.Signal, next Routes) (Connector, error) {
	c, err := f.cast(cfg)
	if err != nil {
		return nil, err
	}
	return f.create(ctx, set, c, in, out, next)
}

// NewServiceFactory makes a ServiceFactory from a typed default and constructor.
func NewServiceFactory[C Config](typ string, def func() C,
	create func(ctx context.Context, set ServiceSettings, cfg C) (Service, error)) ServiceFactory {
	return serviceFactory[C]{base[C]{typ, KindService, nil, def}, create}
}

type serviceFactory[C Config] struct {
	base[C]
	create func(context.Context, ServiceSettings, C) (Service, error)
}

func (f serviceFactory[C]) CreateService(ctx context.Context, set ServiceSettings, cfg Config) (Service, error) {
	c, err := f.cast(cfg)
	if err != nil {
		return nil, err
	}
	return f.create(ctx, set, c)
}
