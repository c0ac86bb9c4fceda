package resilience

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
)

// Config is the resilience section of the configuration, `[otlp.resilience]` in TOML:
//
//	[otlp.resilience]
//	circuit_breaker = { failure_threshold = 5, recovery_timeout = "30s" }
//	retry = { max_attempts = 3, base_delay = "100ms", max_delay = "5s" }
//	timeout = { connect = "5s", read = "30s", write = "30s" }
//
//	[otlp.resilience.policies.my_operation]
//	retry = { max_attempts = 5 }
//
// The top-level sections are the defaults of every named policy. A named policy overrides
// only the keys it sets: a key left out, or set to its zero value, inherits the default (so
// use `disabled = true` to turn a breaker or retries off for one policy).
type Config struct {
	CircuitBreaker BreakerConfig   `toml:"circuit_breaker"`
	Retry          RetryConfig     `toml:"retry"`
	Timeout        TimeoutConfig   `toml:"timeout"`
	Bulkhead       BulkheadConfig  `toml:"bulkhead"`
	RateLimit      RateLimitConfig `toml:"rate_limit"`
	// Policies are named overrides, used by Manager.Execute(ctx, name, fn).
	Policies map[string]PolicyConfig `toml:"policies"`
}

// PolicyConfig overrides the defaults for one named policy.
type PolicyConfig struct {
	CircuitBreaker *BreakerConfig   `toml:"circuit_breaker"`
	Retry          *RetryConfig     `toml:"retry"`
	Timeout        *TimeoutConfig   `toml:"timeout"`
	Bulkhead       *BulkheadConfig  `toml:"bulkhead"`
	RateLimit      *RateLimitConfig `toml:"rate_limit"`
}

// PolicySet is the effective configuration of one named policy.
type PolicySet struct {
	CircuitBreaker BreakerConfig
	Retry          RetryConfig
	Timeout        TimeoutConfig
	Bulkhead       BulkheadConfig
	RateLimit      RateLimitConfig
}

// NewDefaultConfig returns the defaults: NewDefaultBreakerConfig, NewDefaultRetryConfig,
// NewDefaultTimeoutConfig, no bulkhead and no rate limit.
func NewDefaultConfig() Config {
	return Config{
		CircuitBreaker: NewDefaultBreakerConfig(),
		Retry:          NewDefaultRetryConfig(),
		Timeout:        NewDefaultTimeoutConfig(),
	}
}

// PolicySet returns the effective configuration of the named policy: the defaults overlaid
// with the policy's non-zero keys.
func (c Config) PolicySet(name string) PolicySet {
	s := PolicySet{
		CircuitBreaker: c.CircuitBreaker,
		Retry:          c.Retry,
		Timeout:        c.Timeout,
		Bulkhead:       c.Bulkhead,
		RateLimit:      c.RateLimit,
	}
	p, ok := c.Policies[name]
	if !ok {
		return s
	}
	overlay(&s.CircuitBreaker, p.CircuitBreaker)
	overlay(&s.Retry, p.Retry)
	overlay(&s.Timeout, p.Timeout)
	overlay(&s.Bulkhead, p.Bulkhead)
	overlay(&s.RateLimit, p.RateLimit)
	return s
}

// overlay copies the non-zero fields of *src, recursively, onto *dst.
func overlay[T any](dst *T, src *T) {
	if src == nil {
		return
	}
	overlayValue(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem())
}

func overlayValue(dst, src reflect.Value) {
	if src.Kind() == reflect.Struct {
		for i := range src.NumField() {
			overlayValue(dst.Field(i), src.Field(i))
		}
		return
	}
	if !src.IsZero() {
		dst.Set(src)
	}
}

// Validate checks the defaults and every named policy; errors name the key, such as
// "policies.export.retry.max_delay: must be >= base_delay".
func (c Config) Validate() error {
	errs := []error{c.PolicySet("").validate("")}
	names := make([]string, 0, len(c.Policies))
	for name := range c.Policies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "" {
			errs = append(errs, errors.New("policies: a policy name must not be empty"))
			continue
		}
		errs = append(errs, c.PolicySet(name).validate("policies."+name+"."))
	}
	return errors.Join(errs...)
}

// Validate checks every section; errors name the key.
func (s PolicySet) Validate() error { return s.validate("") }

func (s PolicySet) validate(prefix string) error {
	var errs []error
	add := func(section string, err error) {
		if err == nil {
			return
		}
		// errors.Join of several keys: prefix each line.
		var multi interface{ Unwrap() []error }
		if errors.As(err, &multi) {
			for _, e := range multi.Unwrap() {
				errs = append(errs, fmt.Errorf("%s%s.%w", prefix, section, e))
			}
			return
		}
		errs = append(errs, fmt.Errorf("%s%s.%w", prefix, section, err))
	}
	add("circuit_breaker", s.CircuitBreaker.Validate())
	add("retry", s.Retry.Validate())
	add("timeout", s.Timeout.Validate())
	add("bulkhead", s.Bulkhead.Validate())
	add("rate_limit", s.RateLimit.Validate())
	return errors.Join(errs...)
}
