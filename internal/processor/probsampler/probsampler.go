// Package probsampler is the "probabilistic_sampler" processor: it keeps each span or log
// record with a configured probability, decided from the trace's randomness so that every
// sampler of a trace, here or at an agent, agrees (OpenTelemetry consistent probability
// sampling), and records the probability in the W3C tracestate as ot=th, with the
// configuration of the Collector's probabilisticsamplerprocessor.
package probsampler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/processor/pdataproc"
)

// Config is [processors.probabilistic_sampler].
type Config struct {
	// SamplingPercentage is kept as a 32-bit float, as the Collector reads it, so that both
	// compute the same thresholds; >= 100 keeps everything, 0 nothing.
	SamplingPercentage float32 `toml:"sampling_percentage"`
	// Mode is "proportional" (the default: multiply with the probability already applied)
	// or "equalizing" (lower the probability to this one where it is higher).
	Mode string `toml:"mode"`
	// FailClosed drops items whose randomness cannot be read (an empty trace ID, a bad
	// tracestate); false keeps them.
	FailClosed *bool `toml:"fail_closed"`
	// SamplingPrecision is the number of hex digits of the threshold written (1 to 14).
	SamplingPrecision int `toml:"sampling_precision"`
	// HashSeed selects the Collector's older hash_seed mode, which is not supported.
	HashSeed uint32 `toml:"hash_seed"`
	// AttributeSource (logs): "traceID"; "record" (hashing an attribute) is not supported.
	AttributeSource string `toml:"attribute_source"`
	FromAttribute   string `toml:"from_attribute"`
	// SamplingPriority (logs) names an attribute holding a percentage that overrides the
	// configured one for its record.
	SamplingPriority string `toml:"sampling_priority"`
}

// NewDefaultConfig returns the Collector's defaults.
func NewDefaultConfig() Config {
	return Config{SamplingPrecision: 4, AttributeSource: "traceID"}
}

// Validate checks the settings.
func (c *Config) Validate() error {
	var errs []error
	if c.SamplingPercentage < 0 || math.IsNaN(float64(c.SamplingPercentage)) {
		errs = append(errs, fmt.Errorf("sampling_percentage: must be between 0 and 100, got %v", c.SamplingPercentage))
	}
	switch c.Mode {
	case "", "proportional", "equalizing":
	case "hash_seed":
		errs = append(errs, errors.New("mode: hash_seed is not supported; use proportional (the default) or equalizing, which follow the OpenTelemetry specification"))
	default:
		errs = append(errs, fmt.Errorf("mode: %q is not one of proportional, equalizing", c.Mode))
	}
	if c.HashSeed != 0 {
		errs = append(errs, errors.New("hash_seed: the hash_seed mode is not supported; leave hash_seed out to sample by the trace's randomness"))
	}
	if c.SamplingPrecision < 1 || c.SamplingPrecision > numHexDigits {
		errs = append(errs, fmt.Errorf("sampling_precision: must be between 1 and 14, got %d", c.SamplingPrecision))
	}
	switch c.AttributeSource {
	case "traceID":
	case "record":
		errs = append(errs, errors.New("attribute_source: record (hashing an attribute) is not supported; records are sampled by their trace ID"))
	default:
		errs = append(errs, fmt.Errorf("attribute_source: %q is not traceID", c.AttributeSource))
	}
	if c.FromAttribute != "" {
		errs = append(errs, errors.New("from_attribute: hashing an attribute is not supported; records are sampled by their trace ID"))
	}
	return errors.Join(errs...)
}

// NewFactory returns the factory of the "probabilistic_sampler" processor (traces and logs).
func NewFactory() component.ProcessorFactory {
	return component.NewProcessorFactory("probabilistic_sampler", []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalLogs},
		func() *Config { c := NewDefaultConfig(); return &c },
		func(_ context.Context, _ component.PipelineSettings, cfg *Config, next pipeline.Consumer) (component.Processor, error) {
			return New(*cfg, next)
		})
}

// sampler holds the decision rule.
type sampler struct {
	never      bool
	equalizing bool
	ratio      float64
	fixed      threshold // equalizing
	prec       int
	failClosed bool
	priority   string
}

// New builds the processor.
func New(cfg Config, next pipeline.Consumer) (*pdataproc.Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &sampler{prec: cfg.SamplingPrecision, failClosed: cfg.FailClosed == nil || *cfg.FailClosed, priority: cfg.SamplingPriority}
	pct := cfg.SamplingPercentage
	if pct > 100 {
		pct = 100
	}
	if pct == 0 {
		s.never = true
	}
	s.ratio = float64(pct) / 100 // widened before dividing, as the Collector does
	if s.ratio < minProb {
		s.ratio = minProb
	}
	if cfg.Mode == "equalizing" {
		s.equalizing = true
		s.fixed, _ = probabilityThreshold(s.ratio, s.prec)
	}
	return &pdataproc.Processor{Name: "probabilistic_sampler", Next: next, Funcs: pdataproc.Funcs{
		Traces: func(td ptrace.Traces) {
			td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
				rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
					ss.Spans().RemoveIf(func(sp ptrace.Span) bool { return !s.span(sp) })
					return ss.Spans().Len() == 0
				})
				return rs.ScopeSpans().Len() == 0
			})
		},
		Logs: func(ld plog.Logs) {
			ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
				rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
					sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool { return !s.log(lr) })
					return sl.LogRecords().Len() == 0
				})
				return rl.ScopeLogs().Len() == 0
			})
		},
	}}, nil
}

// decide is the threshold for an item that already carries threshold in (if has).
func (s *sampler) decide(in threshold, has bool) threshold {
	switch {
	case s.never:
		return neverSample
	case s.equalizing:
		return s.fixed
	}
	incoming := 1.0
	if has {
		incoming = in.probability()
	}
	t, err := probabilityThreshold(incoming*s.ratio, s.prec)
	if err != nil {
		return neverSample // fell below the smallest probability: not sampled
	}
	return t
}

// carried is the sampling information an item arrives with.
type carried struct {
	r      uint64 // randomness
	haveR  bool
	in     threshold // the threshold a sampler upstream applied
	haveTh bool
}

// thresholdFor is the threshold an item is decided with: the configured decision when its
// randomness is known and agrees with its arriving threshold, else fail_closed's. readable is
// false when the item's sampling information could not be parsed. An arriving threshold that
// the randomness contradicts is forgotten (inconsistent: the caller removes it from the item).
func (s *sampler) thresholdFor(it *carried, readable bool) (t threshold, inconsistent bool) {
	switch {
	case readable && it.haveR && it.haveTh && !it.in.samples(it.r):
		it.haveTh, inconsistent = false, true
	case readable && it.haveR:
		return s.decide(it.in, it.haveTh), false
	}
	if s.failClosed {
		return neverSample, inconsistent
	}
	return alwaysSample, inconsistent
}

// rewrites reports whether a kept item's threshold becomes t: never raise a probability an
// upstream sampler already lowered.
func (it carried) rewrites(t threshold) bool { return !it.haveTh || it.in <= t }

// span decides one span and, when it is kept, records its threshold in the tracestate.
func (s *sampler) span(sp ptrace.Span) bool {
	st, err := parseTraceState(sp.TraceState().AsRaw())
	var it carried
	if err == nil {
		switch {
		case st.rvSet:
			it.r, _ = parseRandomness(st.rv)
			it.haveR = true
		case !sp.TraceID().IsEmpty():
			it.r, it.haveR = traceIDRandomness(sp.TraceID()), true
		}
		if st.thSet {
			it.in, _ = parseThreshold(st.th)
			it.haveTh = true
		}
	}
	t, inconsistent := s.thresholdFor(&it, err == nil)
	if inconsistent {
		st.thSet = false
	}
	switch spanPriority(sp) {
	case priorityNever:
		t = neverSample
	case priorityAlways:
		t = alwaysSample
	}
	if !t.samples(it.r) {
		return false
	}
	if err == nil { // a tracestate that could not be read is left as it came
		if it.rewrites(t) {
			st.th, st.thSet = t.hex(), true
		}
		sp.TraceState().FromRaw(st.String())
	}
	return true
}

type priority uint8

const (
	priorityDefer priority = iota
	priorityNever
	priorityAlways
)

// spanPriority reads sampling.priority: 0 drops the span, any other number keeps it.
func spanPriority(sp ptrace.Span) priority {
	v, ok := sp.Attributes().Get("sampling.priority")
	if !ok {
		return priorityDefer
	}
	var f float64
	switch v.Type() {
	case pcommon.ValueTypeInt:
		f = float64(v.Int())
	case pcommon.ValueTypeDouble:
		f = v.Double()
	case pcommon.ValueTypeStr:
		var err error
		if f, err = strconv.ParseFloat(v.Str(), 64); err != nil {
			return priorityDefer
		}
	default:
		return priorityDefer
	}
	if f == 0 {
		return priorityNever
	}
	return priorityAlways
}

// log decides one log record by its trace ID (or sampling.randomness attribute) and records
// the threshold as the sampling.threshold attribute.
func (s *sampler) log(lr plog.LogRecord) bool {
	attrs := lr.Attributes()
	var (
		it  carried
		err error
	)
	if v, ok := attrs.Get("sampling.randomness"); ok {
		if it.r, err = parseRandomness(v.AsString()); err == nil {
			it.haveR = true
		}
	} else if !lr.TraceID().IsEmpty() {
		it.r, it.haveR = traceIDRandomness(lr.TraceID()), true
	}
	if v, ok := attrs.Get("sampling.threshold"); ok && err == nil {
		if it.in, err = parseThreshold(v.AsString()); err == nil {
			it.haveTh = true
		}
	}
	t, inconsistent := s.thresholdFor(&it, err == nil)
	if inconsistent {
		attrs.Remove("sampling.threshold")
	}
	if pt, ok := s.logPriority(attrs); ok {
		t = pt
	}
	if !t.samples(it.r) {
		return false
	}
	if err == nil && it.rewrites(t) {
		attrs.PutStr("sampling.threshold", t.hex())
	}
	return true
}

// logPriority reads the sampling_priority attribute: a percentage for this record, 0 drops it.
func (s *sampler) logPriority(attrs pcommon.Map) (threshold, bool) {
	if s.priority == "" {
		return 0, false
	}
	v, ok := attrs.Get(s.priority)
	if !ok {
		return 0, false
	}
	var pct float64
	switch v.Type() {
	case pcommon.ValueTypeInt:
		pct = float64(v.Int())
	case pcommon.ValueTypeDouble:
		pct = v.Double()
	default:
		return 0, false
	}
	switch {
	case pct == 0:
		return neverSample, true
	case pct < 0:
		return 0, false
	}
	t, err := probabilityThreshold(min(pct, 100)/100, 0)
	return t, err == nil
}
