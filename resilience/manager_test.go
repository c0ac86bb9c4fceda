package resilience_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otlp-dev/otlp/resilience"
	"github.com/otlp-dev/otlp/resilience/resiliencetest"
)

// loadConfig decodes the [otlp.resilience] section of a testdata file over the defaults, as
// the server's configuration loader does.
func loadConfig(t *testing.T, path string) resilience.Config {
	t.Helper()
	var file struct {
		OTLP struct {
			Resilience resilience.Config `toml:"resilience"`
		} `toml:"otlp"`
	}
	file.OTLP.Resilience = resilience.NewDefaultConfig()
	md, err := toml.DecodeFile(path, &file)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("unknown keys: %v", u)
	}
	return file.OTLP.Resilience
}

func TestConfigFromTOML(t *testing.T) {
	cfg := loadConfig(t, "testdata/resilience.toml")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	def := cfg.PolicySet("anything")
	if def.CircuitBreaker.FailureThreshold != 3 || def.CircuitBreaker.RecoveryTimeout != 20*time.Second ||
		def.CircuitBreaker.WindowSize != 100 {
		t.Errorf("breaker = %+v", def.CircuitBreaker)
	}
	if def.Retry.MaxAttempts != 4 || def.Retry.BaseDelay != 50*time.Millisecond || def.Retry.MaxDelay != 2*time.Second ||
		def.Retry.Multiplier != 2 || def.Retry.Budget.Ratio != 0.1 {
		t.Errorf("retry = %+v", def.Retry)
	}
	if def.Timeout != (resilience.TimeoutConfig{Call: 10 * time.Second, Connect: 3 * time.Second, Read: 15 * time.Second, Write: 15 * time.Second}) {
		t.Errorf("timeout = %+v", def.Timeout)
	}
	exp := cfg.PolicySet("export")
	if exp.Retry.MaxAttempts != 8 || exp.Retry.BaseDelay != 50*time.Millisecond ||
		exp.Retry.Budget.Ratio != 0.2 || exp.Retry.Budget.Burst != 10 {
		t.Errorf("export retry = %+v (overrides must inherit the rest)", exp.Retry)
	}
	if exp.Timeout.Call != 30*time.Second || exp.Timeout.Connect != 3*time.Second {
		t.Errorf("export timeout = %+v", exp.Timeout)
	}
	if exp.Bulkhead.MaxConcurrent != 16 || exp.CircuitBreaker.FailureThreshold != 3 {
		t.Errorf("export = %+v", exp)
	}
	if lk := cfg.PolicySet("lookup"); !lk.CircuitBreaker.Disabled || lk.RateLimit.Rate != 100 {
		t.Errorf("lookup = %+v", lk)
	}
}

func TestConfigValidateNamesKeys(t *testing.T) {
	err := loadConfig(t, "testdata/invalid.toml").Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{
		"retry.max_delay:",
		"policies.export.retry.max_delay:",
		"policies.export.circuit_breaker.failure_rate:",
	} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
	if _, err := resilience.NewManager(loadConfig(t, "testdata/invalid.toml")); err == nil {
		t.Error("NewManager accepted an invalid config")
	}
	bad := resilience.NewDefaultConfig()
	bad.Timeout.Read = -time.Second
	bad.Bulkhead.MaxWait = -1
	bad.RateLimit.Burst = -1
	err = bad.Validate()
	for _, key := range []string{"timeout.read:", "bulkhead.max_wait:", "rate_limit.burst:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not name %s", err, key)
		}
	}
}

func TestManager(t *testing.T) {
	clk := resiliencetest.NewFakeClock(epoch)
	cfg := loadConfig(t, "testdata/resilience.toml")
	cfg.Retry.Jitter = 0
	obs := &eventLog{}
	m, err := resilience.NewManager(cfg, resilience.WithClock(clk), resilience.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()

	// A name of its own, never configured: the defaults.
	if err := m.Execute(ctx, "my_operation", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	v, err := resilience.Execute(ctx, m, "lookup", func(context.Context) (string, error) { return "v", nil })
	if err != nil || v != "v" {
		t.Fatalf("Execute[T] = %q, %v", v, err)
	}
	if m.Breaker("lookup") != nil {
		t.Error("lookup's breaker is disabled")
	}
	// Permanent errors are not retried and do not trip the breaker.
	err = m.Execute(ctx, "export", func(context.Context) error { return resilience.Permanent(errBoom) })
	if !resilience.IsPermanent(err) || m.Breaker("export").State() != resilience.StateClosed {
		t.Fatalf("err %v, state %v", err, m.Breaker("export").State())
	}
	// The same breaker serves every caller of a name.
	if m.Breaker("export") != m.Breaker("export") {
		t.Error("a new breaker per call")
	}
	if got := m.Timeouts("export"); got.Connect != 3*time.Second || got.Call != 30*time.Second {
		t.Errorf("Timeouts = %+v", got)
	}
	ms := m.Metrics()
	var names []string
	for _, x := range ms {
		names = append(names, x.Name)
	}
	if strings.Join(names, ",") != "export,lookup,my_operation" {
		t.Fatalf("metrics for %v", names)
	}
	if ms[0].Failures != 1 || ms[1].Successes != 1 || ms[2].Successes != 1 || ms[1].Breaker != nil {
		t.Fatalf("metrics %+v", ms)
	}
}

func TestManagerConcurrentFirstUse(t *testing.T) {
	m, err := resilience.NewManager(resilience.NewDefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	breakers := make([]*resilience.Breaker, 8)
	for i := range breakers {
		wg.Go(func() {
			_ = m.Execute(context.Background(), "op", func(context.Context) error { return nil })
			breakers[i] = m.Breaker("op")
		})
	}
	wg.Wait()
	for _, b := range breakers {
		if b != breakers[0] {
			t.Fatal("two breakers for one name")
		}
	}
	if got := m.Metrics()[0].Successes; got != 8 {
		t.Fatalf("successes = %d", got)
	}
}

func TestManagerOTelMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	cfg := resilience.NewDefaultConfig()
	cfg.CircuitBreaker = consecutiveConfig(1)
	cfg.Retry.Disabled = true
	m, err := resilience.NewManager(cfg, resilience.WithMeter(provider.Meter("resilience")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = m.Execute(ctx, "export", func(context.Context) error { return nil })
	_ = m.Execute(ctx, "export", func(context.Context) error { return errBoom })
	_ = m.Execute(ctx, "export", func(context.Context) error { return nil }) // rejected: open

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				if pol, _ := p.Attributes.Value("policy"); pol.AsString() != "export" {
					t.Errorf("%s without policy=export", md.Name)
				}
				key := md.Name
				for _, k := range []attribute.Key{"outcome", "reason", "state"} {
					if v, ok := p.Attributes.Value(k); ok {
						key += "{" + v.AsString() + "}"
					}
				}
				got[key] = p.Value
			}
		}
	}
	want := map[string]int64{
		"resilience.calls{success}":                         1,
		"resilience.calls{failure}":                         1,
		"resilience.calls{rejected}":                        1,
		"resilience.rejections{circuit_open}":               1,
		"resilience.circuit_breaker.state{open}":            1,
		"resilience.circuit_breaker.state{closed}":          0,
		"resilience.circuit_breaker.transitions{open}":      1,
		"resilience.circuit_breaker.transitions{half_open}": 0,
		"resilience.degraded":                               0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	rm = metricdata.ResourceMetrics{}
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if s, ok := md.Data.(metricdata.Sum[int64]); ok && len(s.DataPoints) > 0 {
				t.Fatalf("%s still reported after Close", md.Name)
			}
		}
	}
	if !errors.Is(m.Execute(ctx, "export", func(context.Context) error { return nil }), resilience.ErrOpen) {
		t.Error("the manager should stay usable after Close")
	}
}
