package lb

import (
	"errors"
	"fmt"
	"time"

	"github.com/otlp-dev/otlp/resilience"
)

// Policy names.
const (
	PolicyRoundRobin         = "round_robin"
	PolicyWeightedRoundRobin = "weighted_round_robin"
	PolicyLeastInFlight      = "least_inflight"
	PolicyConsistentHash     = "consistent_hash"
)

// MaxWeight bounds an endpoint's weight.
const MaxWeight = 1_000_000

// Config is the load balancer as users write it. Exactly one endpoint source is set:
// endpoints, dns.name or file.path.
type Config struct {
	// Policy is least_inflight (default), round_robin, weighted_round_robin or consistent_hash.
	// least_inflight is the default because a collector that stalls (a dropped route, a long
	// pause) keeps its calls running: it stops being picked after one, where round robin
	// would give it every other batch until health checks eject it, each batch one more to
	// resend (a duplicate once the stall ends).
	Policy string `toml:"policy"`
	// Endpoints is a static list: "host:port" strings or {address = "host:port", weight = 2}.
	Endpoints      []EndpointSpec           `toml:"endpoints"`
	DNS            DNSConfig                `toml:"dns"`
	File           FileConfig               `toml:"file"`
	Health         HealthConfig             `toml:"health"`
	CircuitBreaker resilience.BreakerConfig `toml:"circuit_breaker"`
}

// DNSConfig discovers endpoints in DNS.
type DNSConfig struct {
	// Name is "host" or "host:port" for A/AAAA records, or "_service._proto.name" with srv.
	Name string `toml:"name"`
	// SRV looks up SRV records: each target:port is an endpoint weighted by its SRV weight.
	SRV bool `toml:"srv"`
	// Port is used for A/AAAA records when Name carries none.
	Port int `toml:"port"`
	// RefreshInterval is how often the name is resolved again.
	RefreshInterval time.Duration `toml:"refresh_interval"`
	// Timeout bounds one resolution.
	Timeout time.Duration `toml:"timeout"`
}

// FileConfig reads endpoints from a file, reloaded when it changes (see docs/load-balancing.md
// for its format).
type FileConfig struct {
	Path string `toml:"path"`
	// RefreshInterval rereads the file even without a change notification, for file systems
	// that do not deliver them.
	RefreshInterval time.Duration `toml:"refresh_interval"`
}

// HealthConfig is passive (from call outcomes) and active (probes) endpoint health.
type HealthConfig struct {
	// MaxFails failures within FailWindow eject an endpoint for EjectDuration (0: no passive
	// health). Each ejection that follows another without a success in between lasts twice
	// as long, up to MaxEjectDuration.
	MaxFails         int           `toml:"max_fails"`
	FailWindow       time.Duration `toml:"fail_window"`
	EjectDuration    time.Duration `toml:"eject_duration"`
	MaxEjectDuration time.Duration `toml:"max_eject_duration"`
	Active           ActiveConfig  `toml:"active"`
}

// ActiveConfig probes every endpoint at Interval. An endpoint is marked down after
// UnhealthyThreshold consecutive failed probes and up again after HealthyThreshold
// consecutive good ones.
type ActiveConfig struct {
	Enabled            bool          `toml:"enabled"`
	Interval           time.Duration `toml:"interval"`
	Timeout            time.Duration `toml:"timeout"`
	HealthyThreshold   int           `toml:"healthy_threshold"`
	UnhealthyThreshold int           `toml:"unhealthy_threshold"`
}

// NewDefaultConfig returns least in flight, DNS refreshed every 30s, files reread every minute,
// ejection after 3 failures in 10s for 5s (doubling up to 2m), active checks off (every 10s
// with a 2s timeout when enabled), and a breaker that opens after 5 consecutive failures and
// tries again after 10s.
func NewDefaultConfig() Config {
	cb := resilience.NewDefaultBreakerConfig()
	cb.RecoveryTimeout = 10 * time.Second
	cb.TrialTimeout = 10 * time.Second
	return Config{
		Policy: PolicyLeastInFlight,
		DNS:    DNSConfig{RefreshInterval: 30 * time.Second, Timeout: 5 * time.Second},
		File:   FileConfig{RefreshInterval: time.Minute},
		Health: HealthConfig{
			MaxFails:         3,
			FailWindow:       10 * time.Second,
			EjectDuration:    5 * time.Second,
			MaxEjectDuration: 2 * time.Minute,
			Active: ActiveConfig{
				Interval:           10 * time.Second,
				Timeout:            2 * time.Second,
				HealthyThreshold:   2,
				UnhealthyThreshold: 3,
			},
		},
		CircuitBreaker: cb,
	}
}

// Validate reports every invalid key.
func (c Config) Validate() error { return c.validate(true) }

// validate checks c; without needSource the endpoints come from elsewhere (Settings.Resolver).
func (c Config) validate(needSource bool) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if _, err := NewPolicy(c.Policy); err != nil {
		bad("policy", "%v", err)
	}
	sources := 0
	if len(c.Endpoints) > 0 {
		sources++
	}
	if c.DNS.Name != "" {
		sources++
	}
	if c.File.Path != "" {
		sources++
	}
	if sources > 1 || needSource && sources == 0 {
		bad("endpoints", "set exactly one of endpoints, dns.name or file.path (got %d)", sources)
	}
	for i, s := range c.Endpoints {
		if err := s.validate(); err != nil {
			bad(fmt.Sprintf("endpoints[%d]", i), "%v", err)
		}
	}
	if c.DNS.Name != "" || !needSource {
		// An injected resolver is refreshed every dns.refresh_interval.
		if err := c.DNS.validate(c.DNS.Name != ""); err != nil {
			errs = append(errs, err)
		}
	}
	if c.File.Path != "" && c.File.RefreshInterval <= 0 {
		bad("file.refresh_interval", "must be > 0, got %v", c.File.RefreshInterval)
	}
	if err := c.Health.validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, prefixed("circuit_breaker.", c.CircuitBreaker.Validate())...)
	return errors.Join(errs...)
}

func (c DNSConfig) validate(checkName bool) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("dns.%s: "+format, append([]any{key}, args...)...))
	}
	if c.SRV && c.Port != 0 {
		bad("port", "must not be set with srv: SRV records carry the port")
	}
	if checkName && !c.SRV {
		if _, _, err := splitNamePort(c.Name, c.Port); err != nil {
			bad("name", "%v", err)
		}
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port", "must be within [0, 65535], got %d", c.Port)
	}
	if c.RefreshInterval <= 0 {
		bad("refresh_interval", "must be > 0, got %v", c.RefreshInterval)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be > 0, got %v", c.Timeout)
	}
	return errors.Join(errs...)
}

func (c HealthConfig) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("health.%s: "+format, append([]any{key}, args...)...))
	}
	if c.MaxFails < 0 {
		bad("max_fails", "must be >= 0, got %d", c.MaxFails)
	}
	if c.MaxFails > 0 {
		if c.FailWindow <= 0 {
			bad("fail_window", "must be > 0 with max_fails, got %v", c.FailWindow)
		}
		if c.EjectDuration <= 0 {
			bad("eject_duration", "must be > 0 with max_fails, got %v", c.EjectDuration)
		}
		if c.MaxEjectDuration < c.EjectDuration {
			bad("max_eject_duration", "must be >= eject_duration (%v), got %v", c.EjectDuration, c.MaxEjectDuration)
		}
	}
	if a := c.Active; a.Enabled {
		if a.Interval <= 0 {
			bad("active.interval", "must be > 0, got %v", a.Interval)
		}
		if a.Timeout <= 0 {
			bad("active.timeout", "must be > 0, got %v", a.Timeout)
		}
		if a.HealthyThreshold < 1 {
			bad("active.healthy_threshold", "must be >= 1, got %d", a.HealthyThreshold)
		}
		if a.UnhealthyThreshold < 1 {
			bad("active.unhealthy_threshold", "must be >= 1, got %d", a.UnhealthyThreshold)
		}
	}
	return errors.Join(errs...)
}

// prefixed puts prefix before the key that starts each of err's joined errors.
func prefixed(prefix string, err error) []error {
	if err == nil {
		return nil
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = fmt.Errorf("%s%w", prefix, e)
	}
	return out
}
