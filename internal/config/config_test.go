package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/exporter/file"
	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/otlphttp"
	"github.com/otlp-dev/otlp/internal/processor/batch"
	"github.com/otlp-dev/otlp/internal/receiver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func noEnv(string) (string, bool) { return "", false }

// envOf is a Getenv over a map.
func envOf(m map[string]string) Getenv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestExampleFileIsValid(t *testing.T) {
	c, err := Load("../../docs/examples/server.toml", envOf(map[string]string{"OTLP_BEARER_TOKEN": "secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Pipelines["traces"].Exporters; len(got) != 2 || got[1] != "otlphttp/archive" {
		t.Fatalf("traces exporters = %v", got)
	}
	if c.Exporters["file/audit"].Config.(*file.Config) == nil || grpcOf(c.Exporters["otlp"]).Headers["x-tenant"] != "shop" {
		t.Fatalf("exporters decoded wrong: %+v", c.Exporters)
	}
	if c.Processors["batch"].Config.(*batch.Config).Timeout != 200*time.Millisecond {
		t.Fatalf("batch timeout = %s", c.Processors["batch"].Config.(*batch.Config).Timeout)
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	for _, sig := range []string{"traces", "metrics", "logs"} {
		p := c.Pipelines[sig]
		if len(p.Receivers) != 1 || p.Exporters[0] != "debug" || len(p.Processors) != 2 {
			t.Fatalf("%s pipeline = %+v", sig, p)
		}
	}
	if c.OTLP.GCPercent != 50 {
		t.Fatalf("gc_percent default = %d, want 50", c.OTLP.GCPercent)
	}
	if recvOf(c.Receivers["otlp"]).GRPC.Endpoint != "localhost:4317" || recvOf(c.Receivers["otlp"]).HTTP.Endpoint != "localhost:4318" || c.Admin.Endpoint != "localhost:8080" {
		t.Fatalf("default ports: %+v %+v", recvOf(c.Receivers["otlp"]), c.Admin)
	}
}

func TestListenHost(t *testing.T) {
	// listen_host moves the addresses left at their defaults; one set explicitly stays.
	c, err := Parse([]byte("[otlp]\nlisten_host = \"0.0.0.0\"\n[receivers.otlp.http]\nendpoint = \"127.0.0.1:9318\"\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := recvOf(c.Receivers["otlp"])
	if r.GRPC.Endpoint != "0.0.0.0:4317" || r.HTTP.Endpoint != "127.0.0.1:9318" || c.Admin.Endpoint != "0.0.0.0:8080" {
		t.Fatalf("listen_host: grpc %q http %q admin %q", r.GRPC.Endpoint, r.HTTP.Endpoint, c.Admin.Endpoint)
	}
	c, err = Parse(nil, func(k string) (string, bool) {
		if k == "OTLP_LISTEN_HOST" {
			return "::", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if recvOf(c.Receivers["otlp"]).GRPC.Endpoint != "[::]:4317" || c.Admin.Endpoint != "[::]:8080" {
		t.Fatalf("OTLP_LISTEN_HOST: grpc %q admin %q", recvOf(c.Receivers["otlp"]).GRPC.Endpoint, c.Admin.Endpoint)
	}
}

func TestTransportMakesUpstream(t *testing.T) {
	c, err := Parse([]byte("[otlp.transport]\nprotocol = \"http\"\nendpoints = [\"http://up:4318\"]\nretry_attempts = 3\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Exporters[UpstreamExporter]
	if httpOf(e) == nil || httpOf(e).Endpoint != "http://up:4318" || httpOf(e).Retry.MaxAttempts != 3 {
		t.Fatalf("upstream = %+v", e)
	}
	if c.Pipelines["logs"].Exporters[0] != UpstreamExporter {
		t.Fatalf("logs pipeline = %+v", c.Pipelines["logs"])
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"OTLP_LOG_LEVEL":           "debug",
		"OTLP_GRPC_ENDPOINT":       "127.0.0.1:1",
		"OTLP_TRANSPORT_ENDPOINTS": "up:4317",
		"OTLP_ADMIN_ENDPOINT":      "127.0.0.1:2",
	}
	c, err := Parse([]byte("[otlp]\nlog_level = \"warn\"\n"), envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.OTLP.LogLevel != "debug" || recvOf(c.Receivers["otlp"]).GRPC.Endpoint != "127.0.0.1:1" || c.Admin.Endpoint != "127.0.0.1:2" {
		t.Fatalf("env not applied: %+v", c.OTLP)
	}
	if grpcOf(c.Exporters[UpstreamExporter]).Endpoint != "up:4317" {
		t.Fatal("transport endpoints from env not applied")
	}
	if _, err := Parse(nil, envOf(map[string]string{"OTLP_TRANSPORT_TIMEOUT": "soon"})); err == nil || !strings.Contains(err.Error(), "OTLP_TRANSPORT_TIMEOUT (otlp.transport.timeout)") {
		t.Fatalf("bad env value: %v", err)
	}
	// Set but naming no endpoint: an error, not the debug exporter.
	for _, name := range []string{"OTLP_TRANSPORT_ENDPOINTS", "OTLP_COLLECTOR_ENDPOINT"} {
		if _, err := Parse(nil, envOf(map[string]string{name: ",,,"})); err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "names no endpoint") {
			t.Errorf("%s=\",,,\": %v, want an error naming the variable", name, err)
		}
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		"[otlp]\nlog_level = \"loud\"\n":                                "otlp.log_level",
		"[exporters.otlp]\nendpont = \"x\"\n":                           "exporters.otlp.endpont: unknown key",
		"[exporters.kafka]\n":                                           `exporters.kafka: unknown exporter type "kafka"`,
		"[processors.batch]\nsend_batch_size = 0\n":                     "processors.batch.send_batch_size",
		"[processors.batch]\ntimeout = \"fast\"\n":                      "processors.batch",
		"[pipelines.traces]\nreceivers = [\"otlp\"]\n":                  "pipelines.traces.exporters: at least one exporter",
		"[pipelines.spans]\nreceivers = [\"x\"]\nexporters = [\"y\"]\n": "pipelines.spans: unknown signal",
		"[receivers.otlp.grpc]\nendpoint = \"nope\"\n":                  "receivers.otlp.",
		"[otlp.transport]\nprotocol = \"udp\"\n":                        "otlp.transport.protocol",
		"[otlp]\ngc_percent = 5\n":                                      "otlp.gc_percent: must be between 10 and 1000",
		"[exporters.otlp]\nendpoint = \"\"\n[pipelines.traces]\nreceivers=[\"otlp\"]\nexporters=[\"otlp\"]\n[receivers.otlp]\n": "exporters.otlp.endpoint",
		"not toml at all = = =": "config:",
	}
	for text, want := range cases {
		_, err := Parse([]byte(text), noEnv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", text, err, want)
		}
	}
}

func TestAgentProfile(t *testing.T) {
	env := map[string]string{"OTLP_COLLECTOR_ENDPOINT": "http://c1:4317,c2:4317"}
	c, err := ParseProfile(ProfileAgent, nil, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	e := grpcOf(c.Exporters[UpstreamExporter])
	if e == nil || len(e.Endpoints) != 2 || e.Endpoints[0] != "http://c1:4317" || e.Queue.Storage != "disk" || e.Queue.Disk.Dir != DefaultAgentQueueDir {
		t.Fatalf("agent upstream = %+v", e)
	}
	// http:// is plaintext, a bare host:port is TLS (the OpenTelemetry convention).
	if _, pt := e.Target(e.Endpoints[0]); !pt {
		t.Errorf("%s dialled with TLS, want plaintext", e.Endpoints[0])
	}
	if _, pt := e.Target(e.Endpoints[1]); pt {
		t.Errorf("%s dialled in plaintext, want TLS", e.Endpoints[1])
	}
	if got := c.Pipelines["metrics"].Receivers; len(got) != 2 || got[1] != "hostmetrics" {
		t.Fatalf("agent metrics receivers = %v", got)
	}
	if got := c.Pipelines["traces"].Receivers; len(got) != 1 {
		t.Fatalf("agent traces receivers = %v", got)
	}
	// Batching happens after the disk queue, so that senders are acknowledged once on disk.
	if !e.Queue.Batch.Enabled || e.Queue.Batch.MinSize != 8192 {
		t.Errorf("agent upstream sending_queue.batch = %+v, want enabled at 8192 items", e.Queue.Batch)
	}
	if got := c.Pipelines["traces"].Processors; len(got) != 1 || got[0] != "memory_limiter" {
		t.Errorf("agent traces processors = %v, want [memory_limiter]", got)
	}
}

func TestResilienceSectionSetsExporterDefaults(t *testing.T) {
	c, err := Parse([]byte(`
[otlp.resilience]
circuit_breaker = { failure_threshold = 7, recovery_timeout = "3s" }
retry = { max_attempts = 4, base_delay = "50ms", max_delay = "2s" }
timeout = { write = "4s" }
[exporters.otlp]
endpoint = "up:4317"
[exporters."otlp/own"]
endpoint = "up:4317"
timeout = "9s"
[exporters."otlp/own".retry]
initial_interval = "1s"
max_interval = "1s"
[exporters.debug]
[pipelines.traces]
receivers = ["otlp"]
exporters = ["otlp", "otlp/own", "debug"]
[receivers.otlp]
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	e := grpcOf(c.Exporters["otlp"])
	if e.Retry.MaxAttempts != 4 || e.Retry.InitialInterval != 50*time.Millisecond || e.Retry.MaxInterval != 2*time.Second || e.Timeout != 4*time.Second {
		t.Fatalf("retry/timeout defaults not applied: %+v %s", e.Retry, e.Timeout)
	}
	if cb := e.Balancer.CircuitBreaker; cb.FailureThreshold != 7 || cb.RecoveryTimeout != 3*time.Second {
		t.Fatalf("breaker defaults not applied: %+v", cb)
	}
	own := grpcOf(c.Exporters["otlp/own"])
	if own.Retry.InitialInterval != time.Second || own.Timeout != 9*time.Second || own.Retry.MaxAttempts != 0 {
		t.Fatalf("an exporter's own settings were overridden: %+v %s", own.Retry, own.Timeout)
	}
}

// Mistakes that used to be silent: an unset variable turned auth off, a bare integer was read
// as nanoseconds, an empty token meant "no auth".
func TestStrictWhereMistakesAreSilent(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[receivers.otlp.auth]\nbearer_token = \"${OTLP_TOKEN}\"\n",
			"receivers.otlp.auth.bearer_token: environment variable OTLP_TOKEN is not set"},
		{"[receivers.otlp.auth]\nbearer_token = \"\"\n", "receivers.otlp.auth.bearer_token: empty secret"},
		{"[otlp]\nshutdown_timeout = 10\n", `otlp.shutdown_timeout: a duration needs a unit, e.g. "10s"`},
		{"[exporters.otlp]\nendpoint = \"a:1\"\ntimeout = 5\n[pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"otlp\"]\n",
			"exporters.otlp.timeout: a duration needs a unit"},
		{"[processors.batch]\ntimeout = 200\n", "processors.batch.timeout: a duration needs a unit"},
		{"[exporters.otlp]\nendpoint = \"a:1\"\nheaders = { authorization = \"${TOKEN:-}\" }\n", "exporters.otlp.headers.authorization: empty value"},
	} {
		_, err := Parse([]byte(tc.text), noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\nerror %v\nwant  %q", tc.text, err, tc.want)
		}
	}
	// A default makes an unset variable fine, and a set one wins over it.
	c, err := Parse([]byte("[otlp]\nservice_name = \"${NAME:-fallback}\"\n"), noEnv)
	if err != nil || c.OTLP.ServiceName != "fallback" {
		t.Fatalf("default: %v %q", err, c.OTLP.ServiceName)
	}
	c, err = Parse([]byte("[receivers.otlp.auth]\nbearer_token = \"${OTLP_TOKEN}\"\n"), envOf(map[string]string{"OTLP_TOKEN": "s3cret"}))
	if err != nil || recvOf(c.Receivers["otlp"]).Auth.BearerToken != "s3cret" {
		t.Fatalf("set: %v", err)
	}
}

func TestSDKSectionAccepted(t *testing.T) {
	// A file shared by a service (the Go SDK reads [otlp] and [sdk]) and its collector.
	c, err := Parse([]byte("[otlp]\nservice_name = \"checkout\"\n[sdk]\nsampling_ratio = 0.5\n[sdk.batch]\nmax_size = 512\n"), noEnv)
	if err != nil {
		t.Fatalf("a file with [sdk]: %v", err)
	}
	if c.OTLP.ServiceName != "checkout" {
		t.Errorf("service_name %q", c.OTLP.ServiceName)
	}
	if _, err := Parse([]byte("[sdkx]\na = 1\n"), noEnv); err == nil || !strings.Contains(err.Error(), "sdkx: unknown key") {
		t.Errorf("an unknown section: %v, want unknown key", err)
	}
}

func recvOf(c Component) *receiver.Config { r, _ := c.Config.(*receiver.Config); return r }
func grpcOf(c Component) *otlpgrpc.Config { r, _ := c.Config.(*otlpgrpc.Config); return r }
func httpOf(c Component) *otlphttp.Config { r, _ := c.Config.(*otlphttp.Config); return r }

// Every TOML example of docs/components.md is a configuration that loads.
func TestComponentsDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/components.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d toml blocks", len(blocks))
	}
	for _, b := range blocks {
		if _, err := Parse([]byte(b[1]), noEnv); err != nil {
			t.Errorf("%v\n%s", err, b[1])
		}
	}
}
