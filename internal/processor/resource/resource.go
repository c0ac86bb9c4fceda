// Package resource is the "resource" processor: it applies attribute actions to the resource
// of every batch, with the configuration of the Collector's resourceprocessor.
package resource

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/otlpwire"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/processor/attraction"
	"github.com/otlp-dev/otlp/internal/processor/pdataproc"
)

// Config is [processors.resource].
type Config struct {
	// Attributes are the actions, applied in order to each resource's attributes.
	Attributes []attraction.Action `toml:"attributes"`
}

// Validate compiles the actions.
func (c *Config) Validate() error {
	if len(c.Attributes) == 0 {
		return errors.New("attributes: at least one action is required")
	}
	_, err := attraction.Compile(c.Attributes)
	return prefix(err)
}

func prefix(err error) error {
	if err == nil {
		return nil
	}
	return errors.New("attributes." + err.Error())
}

// NewFactory returns the factory of the "resource" processor.
func NewFactory() component.ProcessorFactory {
	return component.NewProcessorFactory("resource", component.AllSignals,
		func() *Config { return &Config{} },
		func(_ context.Context, _ component.PipelineSettings, cfg *Config, next pipeline.Consumer) (component.Processor, error) {
			return New(*cfg, next)
		})
}

// New builds the processor.
func New(cfg Config, next pipeline.Consumer) (*pdataproc.Processor, error) {
	acts, err := attraction.Compile(cfg.Attributes)
	if err != nil {
		return nil, prefix(err)
	}
	p := &pdataproc.Processor{Name: "resource", Next: next, Funcs: pdataproc.Funcs{
		Traces: func(td ptrace.Traces) {
			for _, rs := range td.ResourceSpans().All() {
				acts.Apply(rs.Resource().Attributes())
			}
		},
		Metrics: func(md pmetric.Metrics) {
			for _, rm := range md.ResourceMetrics().All() {
				acts.Apply(rm.Resource().Attributes())
			}
		},
		Logs: func(ld plog.Logs) {
			for _, rl := range ld.ResourceLogs().All() {
				acts.Apply(rl.Resource().Attributes())
			}
		},
	}}
	// Resources are rewritten on the wire, the items copied as they are, unless an action
	// needs the data model (extract, convert).
	if w, ok := acts.Wire(); ok {
		res := func(sc *pdataproc.Scratch) otlpwire.Edits {
			return otlpwire.Edits{Resource: func(dst, old []byte) []byte {
				sc.Attrs.Load(old, otlpwire.ResourceAttributesField)
				w.Apply(&sc.Attrs)
				return otlpwire.AppendMessage(dst, old, otlpwire.ResourceAttributesField, &sc.Attrs)
			}}
		}
		p.Wire = pdataproc.WireFuncs{Traces: res, Metrics: res, Logs: res}
	}
	return p, nil
}
