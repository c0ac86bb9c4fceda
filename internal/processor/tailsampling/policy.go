package tailsampling

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/big"
	"regexp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// PolicyConfig is one entry of policies, in the Collector's shape: a name, a type, and the
// table of that type.
type PolicyConfig struct {
	Name             string            `toml:"name"`
	Type             string            `toml:"type"`
	StatusCode       *StatusCode       `toml:"status_code"`
	Latency          *Latency          `toml:"latency"`
	Probabilistic    *Probabilistic    `toml:"probabilistic"`
	RateLimiting     *RateLimiting     `toml:"rate_limiting"`
	StringAttribute  *StringAttribute  `toml:"string_attribute"`
	NumericAttribute *NumericAttribute `toml:"numeric_attribute"`
	And              *And              `toml:"and"`
}

// StatusCode keeps traces with a span of one of the codes (OK, ERROR, UNSET).
type StatusCode struct {
	StatusCodes []string `toml:"status_codes"`
}

// Latency keeps traces lasting at least ThresholdMs (first start to last end), and at most
// UpperThresholdMs when set.
type Latency struct {
	ThresholdMs      int64 `toml:"threshold_ms"`
	UpperThresholdMs int64 `toml:"upper_threshold_ms"`
}

// Probabilistic keeps a share of traces by a hash of the trace ID.
type Probabilistic struct {
	SamplingPercentage float64 `toml:"sampling_percentage"`
	HashSalt           string  `toml:"hash_salt"`
}

// RateLimiting keeps traces while the spans kept in the current second stay within
// SpansPerSecond.
type RateLimiting struct {
	SpansPerSecond int64 `toml:"spans_per_second"`
}

// StringAttribute keeps traces whose resource or a span has Key set to one of Values.
type StringAttribute struct {
	Key                  string   `toml:"key"`
	Values               []string `toml:"values"`
	EnabledRegexMatching bool     `toml:"enabled_regex_matching"`
	CacheMaxSize         int      `toml:"cache_max_size"`
	InvertMatch          bool     `toml:"invert_match"`
}

// NumericAttribute keeps traces whose resource or a span has Key in [MinValue, MaxValue].
type NumericAttribute struct {
	Key         string `toml:"key"`
	MinValue    int64  `toml:"min_value"`
	MaxValue    int64  `toml:"max_value"`
	InvertMatch bool   `toml:"invert_match"`
}

// And keeps traces every sub-policy keeps.
type And struct {
	SubPolicies []PolicyConfig `toml:"and_sub_policy"`
}

// decision is what one policy says about a trace. An inverted match (invert_match) is an
// ordinary decision, not a veto over the other policies: the Collector v0.161 behaves so by
// default (its inverted decisions are being removed).
type decision uint8

const (
	notSampled decision = iota
	sampled
)

// trace is what policies look at: every span of the trace received so far.
type trace struct {
	td    ptrace.Traces
	spans int
}

// evaluator decides one trace; now is the decision time (for rate limiting).
type evaluator interface {
	evaluate(id pcommon.TraceID, t *trace, nowSec int64) decision
}

func compilePolicy(p PolicyConfig, nested bool) (evaluator, error) {
	tables := 0
	for _, set := range []bool{p.StatusCode != nil, p.Latency != nil, p.Probabilistic != nil, p.RateLimiting != nil,
		p.StringAttribute != nil, p.NumericAttribute != nil, p.And != nil} {
		if set {
			tables++
		}
	}
	need := func(ok bool) error {
		if !ok {
			return fmt.Errorf("type %q needs its table %s = { ... }", p.Type, p.Type)
		}
		if tables > 1 {
			return fmt.Errorf("type %q: set only the %s table", p.Type, p.Type)
		}
		return nil
	}
	switch p.Type {
	case "always_sample":
		if tables > 0 {
			return nil, errors.New(`type "always_sample" takes no table`)
		}
		return always{}, nil
	case "status_code":
		if err := need(p.StatusCode != nil); err != nil {
			return nil, err
		}
		return newStatusCode(*p.StatusCode)
	case "latency":
		if err := need(p.Latency != nil); err != nil {
			return nil, err
		}
		l := *p.Latency
		if l.ThresholdMs < 0 || l.UpperThresholdMs < 0 || (l.UpperThresholdMs != 0 && l.UpperThresholdMs < l.ThresholdMs) {
			return nil, errors.New("latency: threshold_ms and upper_threshold_ms must be >= 0, and upper at least threshold")
		}
		return latency(l), nil
	case "probabilistic":
		if err := need(p.Probabilistic != nil); err != nil {
			return nil, err
		}
		pc := *p.Probabilistic
		if pc.SamplingPercentage < 0 || pc.SamplingPercentage > 100 {
			return nil, fmt.Errorf("probabilistic.sampling_percentage: must be between 0 and 100, got %v", pc.SamplingPercentage)
		}
		salt := pc.HashSalt
		if salt == "" {
			salt = "default-hash-seed" // the Collector's default, so both keep the same traces
		}
		return probabilistic{salt: salt, threshold: ratioThreshold(pc.SamplingPercentage / 100)}, nil
	case "rate_limiting":
		if err := need(p.RateLimiting != nil); err != nil {
			return nil, err
		}
		if p.RateLimiting.SpansPerSecond <= 0 {
			return nil, errors.New("rate_limiting.spans_per_second: must be > 0")
		}
		return &rateLimiting{limit: p.RateLimiting.SpansPerSecond}, nil
	case "string_attribute":
		if err := need(p.StringAttribute != nil); err != nil {
			return nil, err
		}
		return newStringAttribute(*p.StringAttribute)
	case "numeric_attribute":
		if err := need(p.NumericAttribute != nil); err != nil {
			return nil, err
		}
		n := *p.NumericAttribute
		if n.Key == "" {
			return nil, errors.New("numeric_attribute.key: required")
		}
		if n.MaxValue < n.MinValue {
			return nil, errors.New("numeric_attribute: max_value must be at least min_value")
		}
		return numeric(n), nil
	case "and":
		if err := need(p.And != nil); err != nil {
			return nil, err
		}
		if nested {
			return nil, errors.New(`an "and" policy cannot hold another "and"`)
		}
		if len(p.And.SubPolicies) == 0 {
			return nil, errors.New("and.and_sub_policy: at least one policy is required")
		}
		var subs []evaluator
		for i, sp := range p.And.SubPolicies {
			e, err := compilePolicy(sp, true)
			if err != nil {
				return nil, fmt.Errorf("and.and_sub_policy[%d]: %w", i, err)
			}
			subs = append(subs, e)
		}
		return and(subs), nil
	case "composite", "ottl_condition", "span_count", "trace_state", "boolean_attribute", "drop", "latency_threshold":
		return nil, fmt.Errorf("type %q is not supported (supported: always_sample, status_code, latency, probabilistic, rate_limiting, string_attribute, numeric_attribute, and)", p.Type)
	case "":
		return nil, errors.New("type: required")
	}
	return nil, fmt.Errorf("type %q is not a policy type (supported: always_sample, status_code, latency, probabilistic, rate_limiting, string_attribute, numeric_attribute, and)", p.Type)
}

type always struct{}

func (always) evaluate(pcommon.TraceID, *trace, int64) decision { return sampled }

// anySpan calls f on every span, in arrival order, until it returns true.
func (t *trace) anySpan(f func(ptrace.Span) bool) bool {
	for _, rs := range t.td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				if f(sp) {
					return true
				}
			}
		}
	}
	return false
}

type statusCode []ptrace.StatusCode

func newStatusCode(c StatusCode) (evaluator, error) {
	if len(c.StatusCodes) == 0 {
		return nil, errors.New("status_code.status_codes: at least one is required (OK, ERROR, UNSET)")
	}
	var out statusCode
	for _, s := range c.StatusCodes {
		switch s {
		case "OK":
			out = append(out, ptrace.StatusCodeOk)
		case "ERROR":
			out = append(out, ptrace.StatusCodeError)
		case "UNSET":
			out = append(out, ptrace.StatusCodeUnset)
		default:
			return nil, fmt.Errorf("status_code.status_codes: %q is not one of OK, ERROR, UNSET", s)
		}
	}
	return out, nil
}

func (s statusCode) evaluate(_ pcommon.TraceID, t *trace, _ int64) decision {
	if t.anySpan(func(sp ptrace.Span) bool { return slices.Contains(s, sp.Status().Code()) }) {
		return sampled
	}
	return notSampled
}

type latency Latency

// evaluate follows the Collector: the trace's extent grows span by span, and it is kept as
// soon as the extent so far is within the bounds.
func (l latency) evaluate(_ pcommon.TraceID, t *trace, _ int64) decision {
	var first, last pcommon.Timestamp
	if t.anySpan(func(sp ptrace.Span) bool {
		if first == 0 || sp.StartTimestamp() < first {
			first = sp.StartTimestamp()
		}
		if last == 0 || sp.EndTimestamp() > last {
			last = sp.EndTimestamp()
		}
		ms := last.AsTime().Sub(first.AsTime()).Milliseconds()
		if l.UpperThresholdMs == 0 {
			return ms >= l.ThresholdMs
		}
		return l.ThresholdMs < ms && ms <= l.UpperThresholdMs
	}) {
		return sampled
	}
	return notSampled
}

type probabilistic struct {
	salt      string
	threshold uint64
}

// ratioThreshold is ratio of the uint64 range, computed exactly.
func ratioThreshold(ratio float64) uint64 {
	b := new(big.Float).SetInt(new(big.Int).SetUint64(math.MaxUint64))
	v, _ := b.Mul(b, big.NewFloat(ratio)).Uint64()
	return v
}

func (p probabilistic) evaluate(id pcommon.TraceID, _ *trace, _ int64) decision {
	h := fnv.New64a()
	_, _ = h.Write([]byte(p.salt))
	_, _ = h.Write(id[:])
	if h.Sum64() <= p.threshold {
		return sampled
	}
	return notSampled
}

type rateLimiting struct {
	limit  int64
	second int64
	spent  int64
}

func (r *rateLimiting) evaluate(_ pcommon.TraceID, t *trace, now int64) decision {
	if now != r.second {
		r.second, r.spent = now, 0
	}
	if r.spent+int64(t.spans) > r.limit {
		return notSampled
	}
	r.spent += int64(t.spans)
	return sampled
}

type stringAttribute struct {
	key    string
	values map[string]bool
	res    []*regexp.Regexp
	invert bool
}

func newStringAttribute(c StringAttribute) (evaluator, error) {
	if c.Key == "" {
		return nil, errors.New("string_attribute.key: required")
	}
	if len(c.Values) == 0 {
		return nil, errors.New("string_attribute.values: at least one is required")
	}
	s := &stringAttribute{key: c.Key, values: map[string]bool{}, invert: c.InvertMatch}
	for _, v := range c.Values {
		if c.EnabledRegexMatching {
			re, err := regexp.Compile(v)
			if err != nil {
				return nil, fmt.Errorf("string_attribute.values: %w", err)
			}
			s.res = append(s.res, re)
		} else {
			s.values[v] = true
		}
	}
	return s, nil
}

func (s *stringAttribute) matches(m pcommon.Map) bool {
	v, ok := m.Get(s.key)
	if !ok {
		return false
	}
	str := v.Str()
	if s.res != nil {
		for _, re := range s.res {
			if re.MatchString(str) {
				return true
			}
		}
		return false
	}
	return s.values[str]
}

func (s *stringAttribute) evaluate(_ pcommon.TraceID, t *trace, _ int64) decision {
	return resourceOrSpan(t, s.invert, func(m pcommon.Map) bool { return s.matches(m) })
}

type numeric NumericAttribute

func (n numeric) evaluate(_ pcommon.TraceID, t *trace, _ int64) decision {
	return resourceOrSpan(t, n.InvertMatch, func(m pcommon.Map) bool {
		v, ok := m.Get(n.Key)
		if !ok {
			return false
		}
		x := v.Int()
		return x >= n.MinValue && x <= n.MaxValue
	})
}

// resourceOrSpan keeps a trace with a resource or span matching; inverted, it keeps traces
// where nothing matches.
func resourceOrSpan(t *trace, invert bool, match func(pcommon.Map) bool) decision {
	found := func() bool {
		for _, rs := range t.td.ResourceSpans().All() {
			if match(rs.Resource().Attributes()) {
				return true
			}
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if match(sp.Attributes()) {
						return true
					}
				}
			}
		}
		return false
	}()
	if found != invert {
		return sampled
	}
	return notSampled
}

type and []evaluator

func (a and) evaluate(id pcommon.TraceID, t *trace, now int64) decision {
	for _, e := range a {
		if e.evaluate(id, t, now) == notSampled {
			return notSampled
		}
	}
	return sampled
}

// final combines the policies' decisions: any policy keeping the trace keeps it.
func final(ds []decision) bool {
	for _, d := range ds {
		if d == sampled {
			return true
		}
	}
	return false
}
