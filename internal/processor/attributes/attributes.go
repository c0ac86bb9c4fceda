// Package attributes is the "attributes" processor: it applies attribute actions to the
// attributes of spans, data points and log records, optionally only to those its include
// and exclude properties select, with the configuration of the Collector's
// attributesprocessor.
package attributes

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/otlpwire"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/processor/attraction"
	"github.com/otlp-dev/otlp/internal/processor/match"
	"github.com/otlp-dev/otlp/internal/processor/pdataproc"
)

// Config is [processors.attributes].
type Config struct {
	Actions []attraction.Action `toml:"actions"`
	Include *match.Properties   `toml:"include"`
	Exclude *match.Properties   `toml:"exclude"`
}

// Validate compiles the actions and checks the match tables.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Actions) == 0 {
		errs = append(errs, errors.New("actions: at least one action is required"))
	} else if _, err := attraction.Compile(c.Actions); err != nil {
		errs = append(errs, fmt.Errorf("actions.%w", err))
	}
	for _, m := range []struct {
		key string
		p   *match.Properties
	}{{"include", c.Include}, {"exclude", c.Exclude}} {
		if m.p == nil {
			continue
		}
		// Which properties apply depends on the pipeline's signal: the rest is checked when
		// the processor is built for it (start-up and --check-config both build it).
		if m.p.MatchType != "strict" && m.p.MatchType != "regexp" {
			errs = append(errs, fmt.Errorf("%s.match_type: %q is neither strict nor regexp", m.key, m.p.MatchType))
		}
	}
	return errors.Join(errs...)
}

// NewFactory returns the factory of the "attributes" processor.
func NewFactory() component.ProcessorFactory {
	return component.NewProcessorFactory("attributes", component.AllSignals,
		func() *Config { return &Config{} },
		func(_ context.Context, set component.PipelineSettings, cfg *Config, next pipeline.Consumer) (component.Processor, error) {
			return New(*cfg, set.Signal, next)
		})
}

// New builds the processor for signal sig.
func New(cfg Config, sig pipeline.Signal, next pipeline.Consumer) (*pdataproc.Processor, error) {
	acts, err := attraction.Compile(cfg.Actions)
	if err != nil {
		return nil, fmt.Errorf("actions.%w", err)
	}
	inc, err := match.Compile(cfg.Include, sig)
	if err != nil {
		return nil, fmt.Errorf("include.%w", err)
	}
	exc, err := match.Compile(cfg.Exclude, sig)
	if err != nil {
		return nil, fmt.Errorf("exclude.%w", err)
	}
	filtered := inc != nil || exc != nil
	p := &pdataproc.Processor{Name: "attributes", Next: next, Funcs: pdataproc.Funcs{
		Traces: func(td ptrace.Traces) {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						if !filtered || match.Selects(inc, exc, match.Item{Resource: rs.Resource().Attributes(), Scope: ss.Scope(), Attributes: sp.Attributes(), Name: sp.Name()}) {
							acts.Apply(sp.Attributes())
						}
					}
				}
			}
		},
		Metrics: func(md pmetric.Metrics) {
			for _, rm := range md.ResourceMetrics().All() {
				for _, sm := range rm.ScopeMetrics().All() {
					for _, m := range sm.Metrics().All() {
						pdataproc.EachPoint(m, func(attrs pcommon.Map, _ pcommon.Timestamp) {
							if !filtered || match.Selects(inc, exc, match.Item{Resource: rm.Resource().Attributes(), Scope: sm.Scope(), Attributes: attrs, Name: m.Name()}) {
								acts.Apply(attrs)
							}
						})
					}
				}
			}
		},
		Logs: func(ld plog.Logs) {
			for _, rl := range ld.ResourceLogs().All() {
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						if !filtered || match.Selects(inc, exc, match.Item{Resource: rl.Resource().Attributes(), Scope: sl.Scope(), Attributes: lr.Attributes(),
							Body: lr.Body().AsString(), Severity: lr.SeverityText()}) {
							acts.Apply(lr.Attributes())
						}
					}
				}
			}
		},
	}}
	// Without include/exclude, spans and log records are rewritten on the wire: measured in
	// the processors bench shape, a decode and encode cost more than the rest of the pipeline.
	if w, ok := acts.Wire(); ok && !filtered {
		item := func(field int) func(*pdataproc.Scratch) otlpwire.Edits {
			return func(sc *pdataproc.Scratch) otlpwire.Edits {
				return otlpwire.Edits{Item: func(dst, it, _, _ []byte) ([]byte, bool) {
					sc.Attrs.Load(it, field)
					w.Apply(&sc.Attrs)
					return otlpwire.AppendMessage(dst, it, field, &sc.Attrs), true
				}}
			}
		}
		p.Wire = pdataproc.WireFuncs{Traces: item(otlpwire.SpanAttributesField), Logs: item(otlpwire.LogAttributesField)}
	}
	return p, nil
}
