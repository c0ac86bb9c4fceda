package otlp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomic, as editors and ConfigMaps do
		t.Fatal(err)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "otlp.toml")
	writeFile(t, path, `
[otlp]
service_name = "from-file"
environment = "staging"
[otlp.transport]
protocol = "grpc"
endpoints = ["file:4317"]
headers = { "x-tenant" = "${TENANT}" }
timeout = "3s"
[otlp.resilience.circuit_breaker]
failure_threshold = 9
[sdk]
service_version = "9.9"
sampling_ratio = 0.5
[sdk.batch]
max_size = 100
max_bytes = 65536
queue_size = 1000
`)
	for _, tc := range []struct {
		name  string
		env   map[string]string
		opts  []Option
		check func(t *testing.T, c Config)
	}{
		{"file only", map[string]string{"TENANT": "t1"}, nil, func(t *testing.T, c Config) {
			if c.ServiceName != "from-file" || c.Environment != "staging" || c.ServiceVersion != "9.9" {
				t.Errorf("service = %q %q %q", c.ServiceName, c.Environment, c.ServiceVersion)
			}
			if c.Export.Endpoints[0] != "file:4317" || c.Export.Headers["x-tenant"] != "t1" || c.Export.Timeout != 3*time.Second {
				t.Errorf("export = %+v", c.Export)
			}
			if c.SamplingRatio != 0.5 || c.Batch.MaxSize != 100 || c.Batch.MaxBytes != 65536 || c.CircuitBreaker.FailureThreshold != 9 {
				t.Errorf("ratio %v batch %d items %d bytes breaker %d", c.SamplingRatio, c.Batch.MaxSize, c.Batch.MaxBytes, c.CircuitBreaker.FailureThreshold)
			}
		}},
		{"env over file", map[string]string{
			"TENANT":                             "t1",
			"OTEL_SERVICE_NAME":                  "from-env",
			"OTEL_RESOURCE_ATTRIBUTES":           "service.name=ignored,team=core,note=a%20b",
			"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://env:4317",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "traces:4317",
			"OTEL_EXPORTER_OTLP_HEADERS":         "api-key=k1",
			"OTEL_EXPORTER_OTLP_TIMEOUT":         "1500",
			"OTEL_TRACES_SAMPLER":                "parentbased_traceidratio",
			"OTEL_TRACES_SAMPLER_ARG":            "0.25",
			"OTEL_BSP_MAX_EXPORT_BATCH_SIZE":     "not-a-number",
		}, nil, func(t *testing.T, c Config) {
			if c.ServiceName != "from-env" || c.ResourceAttributes["team"] != "core" || c.ResourceAttributes["note"] != "a b" {
				t.Errorf("service %q attrs %v", c.ServiceName, c.ResourceAttributes)
			}
			if c.Export.Endpoints[0] != "http://env:4317" || c.Traces.Endpoint != "traces:4317" || c.Export.Headers["api-key"] != "k1" || c.Export.Timeout != 1500*time.Millisecond {
				t.Errorf("export = %+v traces %+v", c.Export, c.Traces)
			}
			if c.SamplingRatio != 0.25 || !c.ParentBased || c.Batch.MaxSize != 100 {
				t.Errorf("ratio %v parent %v batch %d (an invalid value is ignored)", c.SamplingRatio, c.ParentBased, c.Batch.MaxSize)
			}
		}},
		{"code over env", map[string]string{"TENANT": "t1", "OTEL_SERVICE_NAME": "from-env", "OTEL_EXPORTER_OTLP_ENDPOINT": "env:4317", "OTEL_TRACES_SAMPLER": "always_off"},
			[]Option{WithService("from-code", ""), WithEndpoint("code:4317", "code2:4317"), WithSamplingRatio(1)},
			func(t *testing.T, c Config) {
				if c.ServiceName != "from-code" || len(c.Export.Endpoints) != 2 || c.Export.Endpoints[0] != "code:4317" || c.SamplingRatio != 1 {
					t.Errorf("config = %+v", c)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options{}
			for _, opt := range append([]Option{FromConfigFile(path), WithEnv(func(k string) string { return tc.env[k] })}, tc.opts...) {
				opt(&o)
			}
			cfg, _, err := resolve(&o)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}

func TestConfigFileRejected(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"unknown key":  "[sdk]\nsampling_rate = 1\n",
		"bad ratio":    "[sdk]\nsampling_ratio = 2.0\n",
		"bad toml":     "[otlp\n",
		"bad protocol": "[otlp.transport]\nprotocol = \"udp\"\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".toml")
		writeFile(t, path, text)
		if _, err := New(context.Background(), WithEnv(nil), FromConfigFile(path)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestHotReload(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	a, b := testutil.NewSink(t), testutil.NewSink(t)
	path := filepath.Join(t.TempDir(), "otlp.toml")
	file := func(endpoint, ratio string) string {
		return "[otlp]\nlog_level = \"error\"\n[otlp.transport]\ninsecure = true\nendpoints = [\"" + endpoint + "\"]\n" +
			"[sdk]\nsampling_ratio = " + ratio + "\nmetric_interval = \"1h\"\n[sdk.batch]\ntimeout = \"20ms\"\n"
	}
	writeFile(t, path, file(a.GRPCAddr, "1.0"))
	c, err := New(ctx, WithEnv(nil), FromConfigFile(path))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(ctx)
	events := make(chan ReloadEvent, 10)
	defer c.OnReload(func(ev ReloadEvent) { events <- ev })()
	next := func() ReloadEvent {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-ctx.Done():
			t.Fatal("no reload event")
		}
		return ReloadEvent{}
	}

	spansOnly(ctx, c, 10)
	if err := c.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Items(pipeline.SignalTraces) != 10 {
		t.Fatalf("sink a: %d spans", a.Items(pipeline.SignalTraces))
	}

	// New endpoint: the exporter is replaced, spans go to b.
	writeFile(t, path, file(b.GRPCAddr, "1.0"))
	if ev := next(); ev.Err != nil || ev.Config.Export.Endpoints[0] != b.GRPCAddr {
		t.Fatalf("reload: %+v", ev)
	}
	spansOnly(ctx, c, 10)
	if err := c.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Items(pipeline.SignalTraces) != 10 || a.Items(pipeline.SignalTraces) != 10 {
		t.Fatalf("after reload: a %d, b %d", a.Items(pipeline.SignalTraces), b.Items(pipeline.SignalTraces))
	}

	// An invalid file is rejected; the running configuration stays.
	writeFile(t, path, file(a.GRPCAddr, "7"))
	if ev := next(); ev.Err == nil || ev.Config.Export.Endpoints[0] != b.GRPCAddr {
		t.Fatalf("invalid file: %+v", ev)
	}

	// Sampling ratio 0: nothing new is sampled.
	writeFile(t, path, file(b.GRPCAddr, "0"))
	if ev := next(); ev.Err != nil || ev.Config.SamplingRatio != 0 {
		t.Fatalf("reload: %+v", ev)
	}
	before := c.Stats().Traces.Accepted
	spansOnly(ctx, c, 10)
	if got := c.Stats().Traces.Accepted; got != before {
		t.Errorf("accepted %d spans with sampling ratio 0", got-before)
	}
}

// TestExampleConfigFile keeps the documented production file valid.
func TestExampleConfigFile(t *testing.T) {
	o := options{}
	FromConfigFile(filepath.Join("..", "examples", "config", "otlp.toml"))(&o)
	WithEnv(nil)(&o)
	cfg, _, err := resolve(&o)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServiceName != "checkout" || cfg.ServiceVersion != "2.4.1" || cfg.Batch.MemoryLimit != 16<<20 || cfg.CircuitBreaker.FailureThreshold != 5 {
		t.Errorf("config = %+v", cfg)
	}
}

func TestValidateNamesTheBatchKey(t *testing.T) {
	c := DefaultConfig()
	c.Batch.MaxBytes = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "batch.max_bytes") {
		t.Fatalf("negative max_bytes: %v, want an error naming batch.max_bytes", err)
	}
	if c := DefaultConfig(); c.Validate() != nil || c.Batch.MaxSize != 2048 || c.Batch.MaxBytes != 1<<20 {
		t.Fatalf("defaults: %+v (%v)", c.Batch, c.Validate())
	}
}
