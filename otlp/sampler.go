package otlp

import (
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// sampler is a sampler whose ratio and parent-based switch a reload can change.
type sampler struct {
	cur atomic.Pointer[sdktrace.Sampler]
}

func newSampler(c Config) *sampler {
	s := &sampler{}
	s.set(c)
	return s
}

func (s *sampler) set(c Config) {
	var inner sdktrace.Sampler
	switch {
	case c.SamplingRatio >= 1:
		inner = sdktrace.AlwaysSample()
	case c.SamplingRatio <= 0:
		inner = sdktrace.NeverSample()
	default:
		inner = sdktrace.TraceIDRatioBased(c.SamplingRatio)
	}
	if c.ParentBased {
		inner = sdktrace.ParentBased(inner)
	}
	s.cur.Store(&inner)
}

// current is the sampler in force.
func (s *sampler) current() sdktrace.Sampler { return *s.cur.Load() }

func (s *sampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	return (*s.cur.Load()).ShouldSample(p)
}

func (s *sampler) Description() string { return (*s.cur.Load()).Description() }
