package resilience

import (
	"errors"
	"fmt"
	"time"
)

// Breaker window kinds.
const (
	WindowCount = "count"
	WindowTime  = "time"
)

// BreakerConfig configures a circuit breaker. Start from NewDefaultBreakerConfig.
type BreakerConfig struct {
	// Disabled turns the breaker off in a manager policy.
	Disabled bool `toml:"disabled"`
	// FailureThreshold opens the breaker after this many consecutive failures (0: off).
	FailureThreshold int `toml:"failure_threshold"`
	// FailureRate opens the breaker when failures/calls in the window reach it (0: off).
	FailureRate float64 `toml:"failure_rate"`
	// SlowCallRate opens the breaker when calls slower than SlowCallDuration make up this
	// fraction of the window (0: off).
	SlowCallRate     float64       `toml:"slow_call_rate"`
	SlowCallDuration time.Duration `toml:"slow_call_duration"`
	// Window is "count" (the last WindowSize calls) or "time" (the last WindowDuration, in
	// WindowBuckets buckets that age out one by one).
	Window         string        `toml:"window"`
	WindowSize     int           `toml:"window_size"`
	WindowDuration time.Duration `toml:"window_duration"`
	WindowBuckets  int           `toml:"window_buckets"`
	// MinimumCalls is the number of calls in the window before rates are judged.
	MinimumCalls int `toml:"minimum_calls"`
	// RecoveryTimeout is how long the breaker stays open before it lets trial calls through.
	RecoveryTimeout time.Duration `toml:"recovery_timeout"`
	// HalfOpenCalls is how many trial calls may run at once in half-open.
	HalfOpenCalls int `toml:"half_open_calls"`
	// SuccessThreshold is how many successful trials close the breaker; any failed trial
	// reopens it.
	SuccessThreshold int `toml:"success_threshold"`
	// TrialTimeout is the deadline of each trial call; a trial still running after it counts
	// as failed, so a hung trial cannot keep the breaker half-open (0: no deadline).
	TrialTimeout time.Duration `toml:"trial_timeout"`
}

// NewDefaultBreakerConfig opens after 5 consecutive failures, or when half of the last 100
// calls failed (once 20 were seen), and tries one call again after 30s.
func NewDefaultBreakerConfig() BreakerConfig {
	return BreakerConfig{
		FailureThreshold: 5,
		FailureRate:      0.5,
		Window:           WindowCount,
		WindowSize:       100,
		WindowDuration:   time.Minute,
		WindowBuckets:    10,
		MinimumCalls:     20,
		RecoveryTimeout:  30 * time.Second,
		HalfOpenCalls:    1,
		SuccessThreshold: 1,
		TrialTimeout:     30 * time.Second,
	}
}

func (c BreakerConfig) usesRates() bool { return c.FailureRate > 0 || c.SlowCallRate > 0 }

// Validate reports the first invalid key.
func (c BreakerConfig) Validate() error {
	if c.Disabled {
		return nil
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if c.FailureThreshold < 0 {
		bad("failure_threshold", "must be >= 0, got %d", c.FailureThreshold)
	}
	if c.FailureRate < 0 || c.FailureRate > 1 {
		bad("failure_rate", "must be within [0, 1], got %v", c.FailureRate)
	}
	if c.SlowCallRate < 0 || c.SlowCallRate > 1 {
		bad("slow_call_rate", "must be within [0, 1], got %v", c.SlowCallRate)
	}
	if c.SlowCallRate > 0 && c.SlowCallDuration <= 0 {
		bad("slow_call_duration", "must be > 0 when slow_call_rate is set")
	}
	if c.FailureThreshold == 0 && !c.usesRates() {
		bad("failure_threshold", "one of failure_threshold, failure_rate or slow_call_rate must be set")
	}
	if c.usesRates() {
		switch c.Window {
		case "", WindowCount:
			if c.WindowSize < 1 || c.WindowSize > maxCountWindow {
				bad("window_size", "must be within [1, %d], got %d", maxCountWindow, c.WindowSize)
			}
		case WindowTime:
			if c.WindowDuration <= 0 {
				bad("window_duration", "must be > 0, got %v", c.WindowDuration)
			}
			if c.WindowBuckets < 1 || c.WindowBuckets > 1000 {
				bad("window_buckets", "must be within [1, 1000], got %d", c.WindowBuckets)
			}
		default:
			bad("window", "must be %q or %q, got %q", WindowCount, WindowTime, c.Window)
		}
		if c.MinimumCalls < 0 {
			bad("minimum_calls", "must be >= 0, got %d", c.MinimumCalls)
		}
	}
	if c.RecoveryTimeout <= 0 {
		bad("recovery_timeout", "must be > 0, got %v", c.RecoveryTimeout)
	}
	if c.HalfOpenCalls < 1 {
		bad("half_open_calls", "must be >= 1, got %d", c.HalfOpenCalls)
	}
	if c.SuccessThreshold < 1 {
		bad("success_threshold", "must be >= 1, got %d", c.SuccessThreshold)
	}
	if c.TrialTimeout < 0 {
		bad("trial_timeout", "must be >= 0, got %v", c.TrialTimeout)
	}
	return errors.Join(errs...)
}
