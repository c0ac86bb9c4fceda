// Package match decides which spans, data points and log records a processor's include and
// exclude properties select, with the Collector's vocabulary (filterconfig.MatchProperties):
// every property that is set must match; within a list of names, any one.
package match

import (
	"errors"
	"fmt"
	"regexp"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Properties is an include or exclude table.
type Properties struct {
	// MatchType is "strict" (equality) or "regexp" (names and string values match a regular
	// expression, anywhere unless anchored).
	MatchType        string      `toml:"match_type"`
	Services         []string    `toml:"services"`
	SpanNames        []string    `toml:"span_names"`
	MetricNames      []string    `toml:"metric_names"`
	LogBodies        []string    `toml:"log_bodies"`
	LogSeverityTexts []string    `toml:"log_severity_texts"`
	Attributes       []Attribute `toml:"attributes"`
	Resources        []Attribute `toml:"resources"`
	Libraries        []Library   `toml:"libraries"`
}

// Attribute matches an attribute by key and, when Value is set, value.
type Attribute struct {
	Key   string `toml:"key"`
	Value any    `toml:"value"`
}

// Library matches an instrumentation scope by name and, when set, version.
type Library struct {
	Name    string  `toml:"name"`
	Version *string `toml:"version"`
}

// Item is what a matcher looks at; fields that do not apply to a signal stay empty.
type Item struct {
	Resource   pcommon.Map
	Scope      pcommon.InstrumentationScope
	Attributes pcommon.Map
	Name       string // span or metric name
	Body       string // log body
	Severity   string // log severity text
}

// Matcher is compiled Properties.
type Matcher struct {
	regexp      bool
	services    []nameMatch
	names       []nameMatch
	bodies      []nameMatch
	severities  []nameMatch
	attributes  []attrMatch
	resources   []attrMatch
	libraries   []libMatch
	hasServices bool
}

type nameMatch struct {
	s  string
	re *regexp.Regexp
}

type attrMatch struct {
	key   string
	value pcommon.Value
	has   bool
	re    *regexp.Regexp
}

type libMatch struct {
	name    nameMatch
	version *nameMatch
}

// Compile checks p for items of signal k; nil p (no table) gives a nil Matcher.
func Compile(p *Properties, k pipeline.Signal) (*Matcher, error) {
	if p == nil {
		return nil, nil
	}
	m := &Matcher{}
	switch p.MatchType {
	case "strict":
	case "regexp":
		m.regexp = true
	case "":
		return nil, errors.New("match_type: required (strict or regexp)")
	default:
		return nil, fmt.Errorf("match_type: %q is neither strict nor regexp", p.MatchType)
	}
	var errs []error
	names := func(key string, in []string, allowed bool) []nameMatch {
		if len(in) > 0 && !allowed {
			errs = append(errs, fmt.Errorf("%s: does not apply to %s", key, k.ItemName()))
			return nil
		}
		out := make([]nameMatch, 0, len(in))
		for _, s := range in {
			nm, err := m.name(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
				continue
			}
			out = append(out, nm)
		}
		return out
	}
	m.services = names("services", p.Services, k == pipeline.SignalTraces)
	m.hasServices = len(p.Services) > 0
	m.names = names("span_names", p.SpanNames, k == pipeline.SignalTraces)
	if k == pipeline.SignalMetrics {
		m.names = names("metric_names", p.MetricNames, true)
	} else {
		names("metric_names", p.MetricNames, false)
	}
	m.bodies = names("log_bodies", p.LogBodies, k == pipeline.SignalLogs)
	m.severities = names("log_severity_texts", p.LogSeverityTexts, k == pipeline.SignalLogs)
	attrs := func(key string, in []Attribute) []attrMatch {
		var out []attrMatch
		for i, a := range in {
			am, err := m.attr(a)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", key, i, err))
				continue
			}
			out = append(out, am)
		}
		return out
	}
	if k == pipeline.SignalMetrics && len(p.Attributes) > 0 {
		errs = append(errs, errors.New("attributes: does not apply to metrics (match by metric_names)"))
	}
	if k == pipeline.SignalMetrics && len(p.Resources) > 0 {
		// The Collector accepts resources here and then matches by metric name only; refusing
		// it is better than silently selecting every resource.
		errs = append(errs, errors.New("resources: does not apply to metrics (match by metric_names)"))
	}
	if k == pipeline.SignalMetrics && len(p.Libraries) > 0 {
		errs = append(errs, errors.New("libraries: does not apply to metrics (match by metric_names)"))
	}
	m.attributes = attrs("attributes", p.Attributes)
	m.resources = attrs("resources", p.Resources)
	for i, l := range p.Libraries {
		nm, err := m.name(l.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("libraries[%d].name: %w", i, err))
			continue
		}
		lm := libMatch{name: nm}
		if l.Version != nil {
			vm, err := m.name(*l.Version)
			if err != nil {
				errs = append(errs, fmt.Errorf("libraries[%d].version: %w", i, err))
				continue
			}
			lm.version = &vm
		}
		m.libraries = append(m.libraries, lm)
	}
	if len(p.Services)+len(p.SpanNames)+len(p.MetricNames)+len(p.LogBodies)+len(p.LogSeverityTexts)+len(p.Attributes)+len(p.Resources)+len(p.Libraries) == 0 {
		errs = append(errs, errors.New("at least one of services, span_names, metric_names, log_bodies, log_severity_texts, attributes, resources, libraries is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Matcher) name(s string) (nameMatch, error) {
	if !m.regexp {
		return nameMatch{s: s}, nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nameMatch{}, err
	}
	return nameMatch{re: re}, nil
}

func (m *Matcher) attr(a Attribute) (attrMatch, error) {
	if a.Key == "" {
		return attrMatch{}, errors.New("key: required")
	}
	am := attrMatch{key: a.Key}
	if a.Value == nil {
		return am, nil
	}
	am.has = true
	if m.regexp {
		s, ok := a.Value.(string)
		if !ok {
			return am, errors.New("value: with match_type regexp it must be a string (a regular expression)")
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return am, fmt.Errorf("value: %w", err)
		}
		am.re = re
		return am, nil
	}
	am.value = pcommon.NewValueEmpty()
	if err := am.value.FromRaw(a.Value); err != nil {
		return am, fmt.Errorf("value: %w", err)
	}
	return am, nil
}

func (n nameMatch) match(s string) bool {
	if n.re != nil {
		return n.re.MatchString(s)
	}
	return n.s == s
}

func anyName(ns []nameMatch, s string) bool {
	for _, n := range ns {
		if n.match(s) {
			return true
		}
	}
	return false
}

func (a attrMatch) match(attrs pcommon.Map) bool {
	v, ok := attrs.Get(a.key)
	if !ok {
		return false
	}
	switch {
	case !a.has:
		return true
	case a.re != nil:
		return v.Type() == pcommon.ValueTypeStr && a.re.MatchString(v.Str())
	}
	return v.Equal(a.value)
}

// Match reports whether it selects the item.
func (m *Matcher) Match(it Item) bool {
	if m.hasServices {
		svc := ""
		if v, ok := it.Resource.Get("service.name"); ok {
			svc = v.AsString()
		}
		if !anyName(m.services, svc) {
			return false
		}
	}
	if len(m.names) > 0 && !anyName(m.names, it.Name) {
		return false
	}
	if len(m.bodies) > 0 && !anyName(m.bodies, it.Body) {
		return false
	}
	if len(m.severities) > 0 && !anyName(m.severities, it.Severity) {
		return false
	}
	if len(m.libraries) > 0 {
		ok := false
		for _, l := range m.libraries {
			if l.name.match(it.Scope.Name()) && (l.version == nil || l.version.match(it.Scope.Version())) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, r := range m.resources {
		if !r.match(it.Resource) {
			return false
		}
	}
	for _, a := range m.attributes {
		if !a.match(it.Attributes) {
			return false
		}
	}
	return true
}

// Selects combines include and exclude: an item is selected when include (if any) matches and
// exclude (if any) does not.
func Selects(include, exclude *Matcher, it Item) bool {
	if include != nil && !include.Match(it) {
		return false
	}
	return exclude == nil || !exclude.Match(it)
}
