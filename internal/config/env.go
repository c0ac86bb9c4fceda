package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otlp-dev/otlp/internal/receiver"
)

// Environment overrides, applied after the file and before defaults are filled in. Each names
// the key it sets; see docs/configuration.md.
var envKeys = []struct {
	name, key string
	set       func(c *Config, v string) error
}{
	{"OTLP_ENVIRONMENT", "otlp.environment", func(c *Config, v string) error { c.OTLP.Environment = v; return nil }},
	{"OTLP_LOG_LEVEL", "otlp.log_level", func(c *Config, v string) error { c.OTLP.LogLevel = v; return nil }},
	{"OTLP_LOG_FORMAT", "otlp.log_format", func(c *Config, v string) error { c.OTLP.LogFormat = v; return nil }},
	{"OTLP_TRANSPORT_PROTOCOL", "otlp.transport.protocol", func(c *Config, v string) error { c.OTLP.Transport.Protocol = v; return nil }},
	{"OTLP_TRANSPORT_ENDPOINTS", "otlp.transport.endpoints", setEndpoints},
	{"OTLP_COLLECTOR_ENDPOINT", "otlp.transport.endpoints", setEndpoints},
	{"OTLP_QUEUE_DIR", "otlp.transport.queue_dir", func(c *Config, v string) error { c.OTLP.Transport.QueueDir = v; return nil }},
	{"OTLP_TRANSPORT_TIMEOUT", "otlp.transport.timeout", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		c.OTLP.Transport.Timeout = d
		return err
	}},
	{"OTLP_TRANSPORT_INSECURE", "otlp.transport.insecure", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.OTLP.Transport.Insecure = b
		return err
	}},
	{"OTLP_LISTEN_HOST", "otlp.listen_host", func(c *Config, v string) error { c.OTLP.ListenHost = v; return nil }},
	{"OTLP_ADMIN_ENDPOINT", "admin.endpoint", func(c *Config, v string) error { c.Admin.Endpoint = v; return nil }},
	{"OTLP_GRPC_ENDPOINT", "receivers.otlp.grpc.endpoint", func(c *Config, v string) error {
		return withOTLPReceiver(c, func(r *receiver.Config) { r.GRPC.Endpoint = v })
	}},
	{"OTLP_HTTP_ENDPOINT", "receivers.otlp.http.endpoint", func(c *Config, v string) error {
		return withOTLPReceiver(c, func(r *receiver.Config) { r.HTTP.Endpoint = v })
	}},
	{"OTLP_BEARER_TOKEN", "receivers.otlp.auth.bearer_token", func(c *Config, v string) error {
		return withOTLPReceiver(c, func(r *receiver.Config) { r.Auth.BearerToken = v })
	}},
}

// setEndpoints sets the upstream list from a comma-separated value. A value that is set but
// names no endpoint (",,,") is an error: falling back to the debug exporter would send the
// data to the log instead of upstream.
func setEndpoints(c *Config, v string) error {
	eps := splitList(v)
	if len(eps) == 0 {
		return fmt.Errorf("%q names no endpoint (want host:port, comma-separated)", v)
	}
	c.OTLP.Transport.Endpoints = eps
	return nil
}

// EnvNames lists the supported override variables and the keys they set, for docs and --help.
func EnvNames() [][2]string {
	out := make([][2]string, len(envKeys))
	for i, e := range envKeys {
		out[i] = [2]string{e.name, e.key}
	}
	return out
}

func applyEnv(c *Config, getenv Getenv) error {
	for _, e := range envKeys {
		v, _ := getenv(e.name)
		if v == "" {
			continue
		}
		if err := e.set(c, v); err != nil {
			return fmt.Errorf("config: %s (%s): %w", e.name, e.key, err)
		}
	}
	return nil
}

func withOTLPReceiver(c *Config, f func(*receiver.Config)) error {
	r, ok := c.Receivers["otlp"]
	if !ok {
		r = defaultReceiver()
	}
	cfg, ok := r.Config.(*receiver.Config)
	if !ok {
		return fmt.Errorf("receivers.otlp is a %s receiver", r.Type)
	}
	f(cfg)
	c.Receivers["otlp"] = r
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
