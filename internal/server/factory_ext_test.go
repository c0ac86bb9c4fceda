package server_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/components"
	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/server"
)

// captureConfig is the configuration of the test's "capture" exporter.
type captureConfig struct {
	Label string `toml:"label"`
}

func (c *captureConfig) Validate() error {
	if c.Label == "" {
		return errors.New("label: must be set")
	}
	return nil
}

// capture is an exporter written outside the server's packages: it keeps the span names it
// receives. Only traces.
type capture struct {
	label   string
	mu      sync.Mutex
	names   []string
	started bool
}

func (c *capture) Start(context.Context) error {
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	return nil
}
func (c *capture) Shutdown(context.Context) error { return nil }
func (c *capture) Consume(_ context.Context, b pipeline.Batch) error {
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b.Body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				c.names = append(c.names, c.label+":"+sp.Name())
			}
		}
	}
	return nil
}

func (c *capture) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.names...)
}

// factories is the built-in list plus one line: the capture exporter.
func factories(t *testing.T, got **capture) component.Factories {
	t.Helper()
	f, err := component.NewFactories(append(components.List(),
		component.NewExporterFactory("capture", []pipeline.Signal{pipeline.SignalTraces},
			func() *captureConfig { return &captureConfig{} },
			func(_ context.Context, _ component.Settings, cfg *captureConfig) (component.Exporter, error) {
				*got = &capture{label: cfg.Label}
				return *got, nil
			}))...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A component defined in another package joins the list with one line and works end to end:
// its table is decoded and validated, the pipeline feeds it, and spans sent by the OpenTelemetry
// SDK over gRPC reach it.
func TestComponentFromAnotherPackage(t *testing.T) {
	var got *capture
	f := factories(t, &got)
	const file = `
[admin]
endpoint = "127.0.0.1:0"
[receivers.otlp.grpc]
endpoint = "127.0.0.1:0"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[exporters.capture]
label = "ext"
[pipelines.traces]
receivers = ["otlp"]
exporters = ["capture"]
`
	noEnv := func(string) (string, bool) { return "", false }
	if _, err := config.Parse([]byte(file), noEnv); err == nil || !strings.Contains(err.Error(), `unknown exporter type "capture"`) {
		t.Fatalf("built-in list: got %v, want the unknown type named", err)
	}
	cfg, err := config.ParseWith(f, config.ProfileServer, []byte(file), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(cfg, server.Settings{Factories: f})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(ctx)
	grpcAddr, _ := s.ReceiverAddrs("otlp")
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr.String()), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := tp.Tracer("ext")
	for _, name := range []string{"a", "b", "c"} {
		_, sp := tr.Start(ctx, name)
		sp.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got == nil || !got.started {
		t.Fatal("the capture exporter was not created and started")
	}
	if seen := strings.Join(got.seen(), ","); seen != "ext:a,ext:b,ext:c" {
		t.Fatalf("capture saw %q, want ext:a,ext:b,ext:c", seen)
	}
}

// Validation reads the factory: a missing required key is the component's own error, and a
// signal it does not support is named.
func TestComponentValidationFromFactory(t *testing.T) {
	var got *capture
	f := factories(t, &got)
	noEnv := func(string) (string, bool) { return "", false }
	for _, c := range []struct{ file, want string }{
		{`
[exporters.capture]
[pipelines.traces]
receivers = ["otlp"]
exporters = ["capture"]
`, "exporters.capture.label: must be set"},
		{`
[exporters.capture]
label = "x"
[pipelines.metrics]
receivers = ["otlp"]
exporters = ["capture"]
`, `pipelines.metrics.exporters: exporter "capture" does not support metrics`},
		{`
[exporters.capture]
label = "x"
colour = "red"
[pipelines.traces]
receivers = ["otlp"]
exporters = ["capture"]
`, "colour"},
	} {
		_, err := config.ParseWith(f, config.ProfileServer, []byte("[receivers.otlp]\n"+c.file), noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
}

// probe is a processor from a test package that records what the host told it.
type probeConfig struct{}

func (*probeConfig) Validate() error { return nil }

// A stage in front of a connector learns that the data it holds ends in a disk queue
// behind the connector, so that it acknowledges only what reached the queue.
func TestDurableThroughAConnector(t *testing.T) {
	durable := map[string]bool{}
	f, err := component.NewFactories(append(components.List(),
		component.NewProcessorFactory("probe", component.AllSignals,
			func() *probeConfig { return &probeConfig{} },
			func(_ context.Context, set component.PipelineSettings, _ *probeConfig, next pipeline.Consumer) (component.Processor, error) {
				durable[set.Pipeline] = set.Durable
				return passThrough{next}, nil
			}))...)
	if err != nil {
		t.Fatal(err)
	}
	file := `
[admin]
endpoint = "127.0.0.1:0"
[receivers.otlp.grpc]
endpoint = "127.0.0.1:0"
[receivers.otlp.http]
endpoint = "127.0.0.1:0"
[processors.probe]
[connectors.forward]
[exporters.otlp]
endpoint = "127.0.0.1:1"
tls = { insecure = true }
sending_queue = { storage = "disk", disk = { dir = "` + t.TempDir() + `" } }
[exporters.debug]
[pipelines."traces/in"]
receivers = ["otlp"]
processors = ["probe"]
exporters = ["forward"]
[pipelines."traces/out"]
receivers = ["forward"]
exporters = ["otlp"]
[pipelines.logs]
receivers = ["otlp"]
processors = ["probe"]
exporters = ["debug"]
`
	cfg, err := config.ParseWith(f, config.ProfileServer, []byte(file), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(cfg, server.Settings{Factories: f})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if !durable["traces/in"] || durable["logs"] {
		t.Fatalf("durable by pipeline: %v; want traces/in (through forward to a disk queue) and not logs", durable)
	}
}

type passThrough struct{ next pipeline.Consumer }

func (p passThrough) Consume(ctx context.Context, b pipeline.Batch) error {
	return p.next.Consume(ctx, b)
}
func (passThrough) Start(context.Context) error    { return nil }
func (passThrough) Shutdown(context.Context) error { return nil }
