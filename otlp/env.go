package otlp

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// applyEnv applies the standard OTEL_* variables to c. An invalid value is ignored with a
// warning, as the specification asks, so that a typo in the environment never stops the
// application.
func applyEnv(c *Config, getenv func(string) string) (warnings []string) {
	warn := func(name, v string, err error) {
		warnings = append(warnings, fmt.Sprintf("%s=%q ignored: %v", name, v, err))
	}
	str := func(name string, dst *string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	if v := getenv("OTEL_SDK_DISABLED"); v != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			warn("OTEL_SDK_DISABLED", v, err)
		} else {
			c.Disabled = b
		}
	}
	if v := getenv("OTEL_RESOURCE_ATTRIBUTES"); v != "" {
		kvs, err := parsePairs(v)
		if err != nil {
			warn("OTEL_RESOURCE_ATTRIBUTES", v, err)
		}
		if c.ResourceAttributes == nil {
			c.ResourceAttributes = map[string]string{}
		}
		for k, val := range kvs {
			switch k {
			case "service.name":
				c.ServiceName = val
			case "service.version":
				c.ServiceVersion = val
			case "deployment.environment.name", "deployment.environment":
				c.Environment = val
			default:
				c.ResourceAttributes[k] = val
			}
		}
	}
	str("OTEL_SERVICE_NAME", &c.ServiceName) // wins over service.name in OTEL_RESOURCE_ATTRIBUTES
	str("OTEL_LOG_LEVEL", &c.LogLevel)

	if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); v != "" {
		c.Export.Endpoints = splitList(v)
	}
	str("OTEL_EXPORTER_OTLP_PROTOCOL", &c.Export.Protocol)
	str("OTEL_EXPORTER_OTLP_COMPRESSION", &c.Export.Compression)
	str("OTEL_EXPORTER_OTLP_CERTIFICATE", &c.Export.TLS.CAFile)
	str("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &c.Export.TLS.CertFile)
	str("OTEL_EXPORTER_OTLP_CLIENT_KEY", &c.Export.TLS.KeyFile)
	if v := getenv("OTEL_EXPORTER_OTLP_INSECURE"); v != "" {
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err != nil {
			warn("OTEL_EXPORTER_OTLP_INSECURE", v, err)
		} else {
			c.Export.Insecure = b
		}
	}
	if v := getenv("OTEL_EXPORTER_OTLP_HEADERS"); v != "" {
		h, err := parsePairs(v)
		if err != nil {
			warn("OTEL_EXPORTER_OTLP_HEADERS", v, err)
		}
		c.Export.Headers = h
	}
	millis("OTEL_EXPORTER_OTLP_TIMEOUT", getenv, &c.Export.Timeout, warn)

	for _, s := range []struct {
		name string
		sc   *SignalConfig
	}{{"TRACES", &c.Traces}, {"METRICS", &c.Metrics}, {"LOGS", &c.Logs}} {
		p := "OTEL_EXPORTER_OTLP_" + s.name + "_"
		str(p+"ENDPOINT", &s.sc.Endpoint)
		str(p+"PROTOCOL", &s.sc.Protocol)
		str(p+"COMPRESSION", &s.sc.Compression)
		if v := getenv(p + "HEADERS"); v != "" {
			h, err := parsePairs(v)
			if err != nil {
				warn(p+"HEADERS", v, err)
			}
			s.sc.Headers = h
		}
		millis(p+"TIMEOUT", getenv, &s.sc.Timeout, warn)
	}

	if v := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")); v != "" {
		if err := applySampler(c, v, getenv("OTEL_TRACES_SAMPLER_ARG")); err != nil {
			warn("OTEL_TRACES_SAMPLER", v, err)
		}
	}
	millis("OTEL_METRIC_EXPORT_INTERVAL", getenv, &c.MetricInterval, warn)
	millis("OTEL_BSP_SCHEDULE_DELAY", getenv, &c.Batch.Timeout, warn)
	integer("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", getenv, &c.Batch.MaxSize, warn)
	integer("OTEL_BSP_MAX_QUEUE_SIZE", getenv, &c.Batch.QueueSize, warn)
	return warnings
}

// applySampler maps OTEL_TRACES_SAMPLER and its argument.
func applySampler(c *Config, name, arg string) error {
	ratio := 1.0
	if arg = strings.TrimSpace(arg); arg != "" && strings.HasSuffix(name, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q is not a ratio in [0, 1]", arg)
		}
		ratio = r
	}
	switch name {
	case "always_on":
		c.SamplingRatio, c.ParentBased = 1, false
	case "always_off":
		c.SamplingRatio, c.ParentBased = 0, false
	case "traceidratio":
		c.SamplingRatio, c.ParentBased = ratio, false
	case "parentbased_always_on":
		c.SamplingRatio, c.ParentBased = 1, true
	case "parentbased_always_off":
		c.SamplingRatio, c.ParentBased = 0, true
	case "parentbased_traceidratio":
		c.SamplingRatio, c.ParentBased = ratio, true
	default:
		return fmt.Errorf("unknown sampler")
	}
	return nil
}

func millis(name string, getenv func(string) string, dst *time.Duration, warn func(string, string, error)) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		warn(name, v, fmt.Errorf("want a positive number of milliseconds"))
		return
	}
	*dst = time.Duration(n) * time.Millisecond
}

func integer(name string, getenv func(string) string, dst *int, warn func(string, string, error)) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		warn(name, v, fmt.Errorf("want a positive integer"))
		return
	}
	*dst = n
}

// parsePairs reads "k1=v1,k2=v2" with URL-encoded values (W3C baggage style); a malformed
// pair is skipped and reported, the others are kept.
func parsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	var bad []string
	for _, p := range strings.Split(s, ",") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			bad = append(bad, p)
			continue
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			bad = append(bad, p)
			continue
		}
		out[k] = dv
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("malformed pairs %q", bad)
	}
	return out, nil
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
