package lb

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/otlp-dev/otlp/resilience"
)

func loadConfig(t *testing.T, name string) Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewDefaultConfig()
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("undecoded keys %v", und)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return cfg
}

func TestConfigFiles(t *testing.T) {
	t.Run("static", func(t *testing.T) {
		cfg := loadConfig(t, "static.toml")
		want := NewDefaultConfig()
		want.Policy = PolicyConsistentHash
		want.Endpoints = []EndpointSpec{{Address: "collector-1:4317"}, {Address: "collector-2:4317", Weight: 2}}
		want.Health = HealthConfig{MaxFails: 5, FailWindow: 30 * time.Second, EjectDuration: 10 * time.Second,
			MaxEjectDuration: 5 * time.Minute, Active: ActiveConfig{Enabled: true, Interval: 5 * time.Second,
				Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 2}}
		want.CircuitBreaker.FailureThreshold = 10
		want.CircuitBreaker.RecoveryTimeout = 20 * time.Second
		if !slices.Equal(cfg.Endpoints, want.Endpoints) || cfg.Health != want.Health ||
			cfg.CircuitBreaker != want.CircuitBreaker || cfg.Policy != want.Policy {
			t.Errorf("got %+v\nwant %+v", cfg, want)
		}
	})
	t.Run("dns", func(t *testing.T) {
		cfg := loadConfig(t, "dns.toml")
		if want := (DNSConfig{Name: "_otlp._tcp.collectors.example.internal", SRV: true,
			RefreshInterval: 15 * time.Second, Timeout: 5 * time.Second}); cfg.DNS != want {
			t.Errorf("dns = %+v, want %+v", cfg.DNS, want)
		}
	})
	t.Run("file", func(t *testing.T) {
		cfg := loadConfig(t, "file.toml")
		if cfg.File.Path != "endpoints.txt" || !cfg.CircuitBreaker.Disabled || cfg.Policy != PolicyWeightedRoundRobin {
			t.Errorf("got %+v", cfg)
		}
		if _, err := New(cfg, Settings{}); err != nil {
			t.Errorf("New: %v", err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		key  string // "" when valid
	}{
		{"static", func(c *Config) {}, ""},
		{"no source", func(c *Config) { c.Endpoints = nil }, "endpoints:"},
		{"two sources", func(c *Config) { c.File.Path = "x" }, "endpoints:"},
		{"bad policy", func(c *Config) { c.Policy = "random" }, "policy:"},
		{"address without port", func(c *Config) { c.Endpoints = []EndpointSpec{{Address: "collector"}} }, "endpoints[0]:"},
		{"port out of range", func(c *Config) { c.Endpoints = []EndpointSpec{{Address: "c:70000"}} }, "endpoints[0]:"},
		{"negative weight", func(c *Config) { c.Endpoints[0].Weight = -1 }, "endpoints[0]:"},
		{"dns without port", func(c *Config) { c.Endpoints = nil; c.DNS.Name = "collectors" }, "dns.name:"},
		{"dns with port key", func(c *Config) { c.Endpoints = nil; c.DNS.Name = "collectors"; c.DNS.Port = 4317 }, ""},
		{"srv with port", func(c *Config) { c.Endpoints = nil; c.DNS.Name = "_otlp._tcp.c"; c.DNS.SRV = true; c.DNS.Port = 1 }, "dns.port:"},
		{"dns refresh", func(c *Config) { c.Endpoints = nil; c.DNS.Name = "c:1"; c.DNS.RefreshInterval = 0 }, "dns.refresh_interval:"},
		{"file refresh", func(c *Config) { c.Endpoints = nil; c.File.Path = "f"; c.File.RefreshInterval = 0 }, "file.refresh_interval:"},
		{"passive off", func(c *Config) { c.Health.MaxFails = 0; c.Health.FailWindow = 0 }, ""},
		{"fail window", func(c *Config) { c.Health.FailWindow = 0 }, "health.fail_window:"},
		{"eject cap", func(c *Config) { c.Health.MaxEjectDuration = time.Second }, "health.max_eject_duration:"},
		{"active interval", func(c *Config) { c.Health.Active.Enabled = true; c.Health.Active.Interval = 0 }, "health.active.interval:"},
		{"active threshold", func(c *Config) { c.Health.Active.Enabled = true; c.Health.Active.HealthyThreshold = 0 }, "health.active.healthy_threshold:"},
		{"active off ignores", func(c *Config) { c.Health.Active.Interval = 0 }, ""},
		{"breaker", func(c *Config) { c.CircuitBreaker.RecoveryTimeout = 0 }, "circuit_breaker.recovery_timeout:"},
		{"breaker disabled", func(c *Config) { c.CircuitBreaker = resilienceDisabled() }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewDefaultConfig()
			cfg.Endpoints = []EndpointSpec{{Address: "collector:4317"}}
			tt.mod(&cfg)
			err := cfg.Validate()
			switch {
			case tt.key == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.key != "" && (err == nil || !strings.Contains(err.Error(), tt.key)):
				t.Errorf("Validate = %v, want an error naming %q", err, tt.key)
			}
			if tt.key != "" {
				if _, err := New(cfg, Settings{}); err == nil {
					t.Error("New accepted the invalid config")
				}
			}
		})
	}
}

func TestEndpointSpecTOML(t *testing.T) {
	tests := []struct {
		in      string
		want    []EndpointSpec
		wantErr string
	}{
		{`endpoints = ["a:1", "b:2"]`, []EndpointSpec{{Address: "a:1"}, {Address: "b:2"}}, ""},
		{`endpoints = [{address = "a:1", weight = 5}]`, []EndpointSpec{{Address: "a:1", Weight: 5}}, ""},
		{"[[endpoints]]\naddress = \"a:1\"\nweight = 2", []EndpointSpec{{Address: "a:1", Weight: 2}}, ""},
		{`endpoints = [{address = "a:1", wieght = 5}]`, nil, "wieght"},
		{`endpoints = [{address = "a:1", weight = -1}]`, nil, "weight"},
		{`endpoints = [{address = 1}]`, nil, "address"},
		{`endpoints = [1]`, nil, "host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var c struct {
				Endpoints []EndpointSpec `toml:"endpoints"`
			}
			_, err := toml.Decode(tt.in, &c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(c.Endpoints, tt.want) {
				t.Errorf("got %v, %v; want %v", c.Endpoints, err, tt.want)
			}
		})
	}
}

func resilienceDisabled() (c resilience.BreakerConfig) {
	c.Disabled = true
	return c
}
