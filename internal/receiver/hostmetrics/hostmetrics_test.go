package hostmetrics

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" means valid
	}{
		{"default", func(*Config) {}, ""},
		{"all scrapers by omission", func(c *Config) { c.Scrapers = nil }, ""},
		{"subset", func(c *Config) { c.Scrapers = []string{"load", "cpu"} }, ""},
		{"zero interval", func(c *Config) { c.CollectionInterval = 0 }, "collection_interval: must be at least"},
		{"tiny interval", func(c *Config) { c.CollectionInterval = time.Millisecond }, "collection_interval:"},
		{"unknown scraper", func(c *Config) { c.Scrapers = []string{"cpu", "gpu"} }, `scrapers: unknown scraper "gpu"`},
		{"duplicate scraper", func(c *Config) { c.Scrapers = []string{"cpu", "cpu"} }, `scrapers: "cpu" listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewDefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{}, Settings{Consumer: &recorder{}}); err == nil {
		t.Fatal("New accepted an invalid config")
	}
	if _, err := New(NewDefaultConfig(), Settings{}); err == nil {
		t.Fatal("New accepted no consumer")
	}
}

// recorder is a consumer that keeps decoded batches and answers with scripted errors.
type recorder struct {
	mu      sync.Mutex
	batches []pmetric.Metrics
	items   []int
	errs    []error // answers, in order; nil or exhausted: accept
	calls   int
}

func (r *recorder) Consume(_ context.Context, b pipeline.Batch) error {
	if b.Signal != pipeline.SignalMetrics {
		return resilience.Permanent(errors.New("not metrics"))
	}
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(b.Body); err != nil {
		return resilience.Permanent(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.batches = append(r.batches, req.Metrics())
	r.items = append(r.items, b.Items)
	if len(r.errs) > 0 {
		err := r.errs[0]
		r.errs = r.errs[1:]
		return err
	}
	return nil
}

func (r *recorder) snapshot() ([]pmetric.Metrics, []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pmetric.Metrics(nil), r.batches...), append([]int(nil), r.items...)
}

// points flattens md into metric name → data points.
func points(md pmetric.Metrics) map[string][]pmetric.NumberDataPoint {
	out := map[string][]pmetric.NumberDataPoint{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				}
				for _, dp := range dps.All() {
					out[m.Name()] = append(out[m.Name()], dp)
				}
			}
		}
	}
	return out
}

func value(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

func attr(dp pmetric.NumberDataPoint, k string) string {
	v, _ := dp.Attributes().Get(k)
	return v.AsString()
}

// TestRealScrape reads this machine twice and checks names, attributes and sane values.
func TestRealScrape(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the expected metric set is Linux's")
	}
	reg := selftel.New()
	r, err := New(NewDefaultConfig(), Settings{Consumer: &recorder{}, Metrics: reg,
		Resource: map[string]string{"deployment.environment.name": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	r.boot = bootTime(ctx, time.Now())
	// Utilization needs a second reading after the kernel's CPU counters (10ms ticks) moved:
	// wall time has to pass, there is nothing to wait on.
	md := r.scrape(ctx)
	for i := 0; i < 100 && len(points(md)["system.cpu.utilization"]) == 0; i++ {
		time.Sleep(20 * time.Millisecond)
		md = r.scrape(ctx)
	}
	if got := testutil.MetricValue(t, reg.Registry, "otlp_errors_total", "transport", "hostmetrics"); got != 0 {
		t.Errorf("scrape errors counted on this machine: %v", got)
	}

	res := md.ResourceMetrics().At(0).Resource().Attributes()
	for k, want := range map[string]string{"os.type": "linux", "deployment.environment.name": "test"} {
		if v, _ := res.Get(k); v.AsString() != want {
			t.Errorf("resource %s = %q, want %q", k, v.AsString(), want)
		}
	}
	if v, _ := res.Get("host.name"); v.AsString() == "" {
		t.Error("resource host.name is empty")
	}

	p := points(md)
	t.Logf("one scrape: %d points in %d metrics", md.DataPointCount(), md.MetricCount())
	for _, name := range []string{
		"system.cpu.time", "system.cpu.utilization", "system.memory.usage", "system.memory.utilization",
		"system.memory.limit", "system.disk.io", "system.disk.operations", "system.network.io",
		"system.network.packets", "system.filesystem.usage", "system.filesystem.utilization",
		"system.cpu.load_average.1m", "system.cpu.load_average.5m", "system.cpu.load_average.15m",
	} {
		if len(p[name]) == 0 {
			t.Errorf("no %s points", name)
		}
	}
	var cpuSecs float64
	for _, dp := range p["system.cpu.time"] {
		if attr(dp, "cpu") == "" || attr(dp, "state") == "" {
			t.Fatalf("system.cpu.time point without cpu/state: %v", dp.Attributes().AsRaw())
		}
		if v := value(dp); v < 0 {
			t.Fatalf("negative cpu time %v", v)
		}
		if dp.StartTimestamp() == 0 || dp.StartTimestamp() >= dp.Timestamp() {
			t.Fatalf("cumulative point start %v not before %v", dp.StartTimestamp(), dp.Timestamp())
		}
		cpuSecs += value(dp)
	}
	if cpuSecs <= 0 {
		t.Error("the CPUs spent no time at all")
	}
	for _, dp := range p["system.cpu.utilization"] {
		if v := value(dp); v < 0 || v > 1 {
			t.Fatalf("cpu utilization %v outside [0, 1]", v)
		}
	}
	limit := value(p["system.memory.limit"][0])
	var memSum float64
	for _, dp := range p["system.memory.usage"] {
		memSum += value(dp)
	}
	if limit <= 0 || memSum != limit {
		t.Errorf("memory states sum to %v, limit is %v", memSum, limit)
	}
	for _, dp := range p["system.network.io"] {
		if d := attr(dp, "direction"); d != "receive" && d != "transmit" || attr(dp, "device") == "" {
			t.Fatalf("network point attributes %v", dp.Attributes().AsRaw())
		}
	}
	for _, dp := range p["system.filesystem.utilization"] {
		if v := value(dp); v < 0 || v > 1 || attr(dp, "mountpoint") == "" {
			t.Fatalf("filesystem utilization %v on %q", v, attr(dp, "mountpoint"))
		}
	}
	if v := value(p["system.cpu.load_average.1m"][0]); v < 0 {
		t.Errorf("load average %v", v)
	}
}

// fake is a scraper emitting one gauge point, or failing.
type fake struct {
	name string
	err  error
}

func (f fake) scrape(_ context.Context, ts stamps, ms pmetric.MetricSlice) error {
	if f.err != nil {
		return f.err
	}
	point(gauge(ms, "test."+f.name, "", "1"), ts.gauge()).SetDoubleValue(1)
	return nil
}

func newFake(t *testing.T, set Settings, scrapers ...fake) *Receiver {
	t.Helper()
	r, err := New(NewDefaultConfig(), set)
	if err != nil {
		t.Fatal(err)
	}
	r.scrapers = nil
	for _, f := range scrapers {
		r.scrapers = append(r.scrapers, namedScraper{name: f.name, scraper: f})
	}
	return r
}

// TestIntervalHonoured runs the real ticker under a fake clock: one scrape at Start, then one
// per collection interval, stamped with the scrape's time.
func TestIntervalHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		r := newFake(t, Settings{Consumer: rec}, fake{name: "a"})
		start := time.Now()
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for i := 1; i <= 5; i++ {
			if got, _ := rec.snapshot(); len(got) != i {
				t.Fatalf("after %d intervals: %d scrapes, want %d", i-1, len(got), i)
			}
			time.Sleep(DefaultCollectionInterval - time.Millisecond) // fake time
			synctest.Wait()
			if got, _ := rec.snapshot(); len(got) != i {
				t.Fatalf("a scrape came early: %d, want %d", len(got), i)
			}
			time.Sleep(time.Millisecond)
			synctest.Wait()
		}
		batches, _ := rec.snapshot()
		for i, md := range batches {
			ts := points(md)["test.a"][0].Timestamp().AsTime()
			if want := start.Add(time.Duration(i) * DefaultCollectionInterval); !ts.Equal(want) {
				t.Errorf("scrape %d stamped %v, want %v", i, ts, want)
			}
		}
		if err := r.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRefusalRetriedNextInterval: a refused scrape goes again with the next one; only one is
// kept, the older is dropped and counted; a permanent error drops at once.
func TestRefusalRetriedNextInterval(t *testing.T) {
	unavailable := errors.New("pipeline full")
	rec := &recorder{errs: []error{
		unavailable, // scrape 1 refused
		resilience.Throttled(unavailable, time.Second), // 1+2 refused: 1 dropped, 2 kept
		nil,                                     // 2+3 delivered
		resilience.Permanent(errors.New("bad")), // 4 dropped
		nil,                                     // 5 delivered alone
	}}
	reg := selftel.New()
	tick := make(chan time.Time)
	r := newFake(t, Settings{Consumer: rec, Metrics: reg, Tick: tick}, fake{name: "a"}, fake{name: "b"})
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		tick <- time.Now() // unbuffered: the previous scrape is over once this is received
	}
	if err := r.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	batches, items := rec.snapshot()
	if want := []int{2, 4, 4, 2, 2}; !slices.Equal(items, want) {
		t.Fatalf("batch items %v, want %v", items, want)
	}
	// The merged request decodes as two resources, one per scrape.
	if n := batches[1].ResourceMetrics().Len(); n != 2 {
		t.Fatalf("merged batch has %d resources, want 2", n)
	}
	g := reg.Registry
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"otlp_received_metric_points_total", []string{"transport", "hostmetrics"}, 6},
		{"otlp_refused_metric_points_total", []string{"reason", "unavailable"}, 2},
		{"otlp_refused_metric_points_total", []string{"reason", "throttled"}, 4},
		{"otlp_dropped_metric_points_total", []string{"reason", selftel.ReasonQueueFull}, 2},
		{"otlp_dropped_metric_points_total", []string{"reason", selftel.ReasonExportFailed}, 2},
	} {
		if got := testutil.MetricValue(t, g, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestScraperFailureOthersReport: one failing scraper is counted; the rest are delivered.
func TestScraperFailureOthersReport(t *testing.T) {
	rec := &recorder{}
	reg := selftel.New()
	r := newFake(t, Settings{Consumer: rec, Metrics: reg, Tick: make(chan time.Time)},
		fake{name: "a"}, fake{name: "broken", err: errors.New("no /proc")}, fake{name: "c"})
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	batches, items := rec.snapshot()
	if len(batches) != 1 || items[0] != 2 {
		t.Fatalf("batches %d, items %v: want one batch of 2", len(batches), items)
	}
	p := points(batches[0])
	if len(p["test.a"]) != 1 || len(p["test.c"]) != 1 || len(p["test.broken"]) != 0 {
		t.Fatalf("points %v", p)
	}
	scopes := batches[0].ResourceMetrics().At(0).ScopeMetrics()
	if scopes.Len() != 2 || scopes.At(0).Scope().Name() != scopePrefix+"a" {
		t.Fatalf("scopes: %d, first %q", scopes.Len(), scopes.At(0).Scope().Name())
	}
	if got := testutil.MetricValue(t, reg.Registry, "otlp_errors_total", "transport", "hostmetrics", "reason", "scrape_broken"); got != 1 {
		t.Fatalf("scrape errors counted: %v", got)
	}
}

// blocker is a consumer that blocks until its context ends.
type blocker struct{ entered chan struct{} }

func (b blocker) Consume(ctx context.Context, _ pipeline.Batch) error {
	close(b.entered)
	<-ctx.Done()
	return ctx.Err()
}

func TestLifecycle(t *testing.T) {
	t.Run("shutdown without start", func(t *testing.T) {
		r := newFake(t, Settings{Consumer: &recorder{}}, fake{name: "a"})
		for range 2 {
			if err := r.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Start(t.Context()); err == nil {
			t.Fatal("Start after Shutdown succeeded")
		}
	})
	t.Run("start twice", func(t *testing.T) {
		r := newFake(t, Settings{Consumer: &recorder{}, Tick: make(chan time.Time)}, fake{name: "a"})
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(t.Context()); err == nil {
			t.Fatal("second Start succeeded")
		}
		if err := r.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("start context ending does not stop", func(t *testing.T) {
		rec := &recorder{}
		tick := make(chan time.Time)
		r := newFake(t, Settings{Consumer: rec, Tick: tick}, fake{name: "a"})
		ctx, cancel := context.WithCancel(t.Context())
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		tick <- time.Now()
		if err := r.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got, _ := rec.snapshot(); len(got) != 2 {
			t.Fatalf("%d scrapes, want 2", len(got))
		}
	})
	t.Run("shutdown deadline abandons a blocked delivery", func(t *testing.T) {
		b := blocker{entered: make(chan struct{})}
		reg := selftel.New()
		r := newFake(t, Settings{Consumer: b, Metrics: reg, Tick: make(chan time.Time)}, fake{name: "a"})
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		<-b.entered
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := r.Shutdown(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown = %v, want context.Canceled", err)
		}
		if err := r.Shutdown(t.Context()); !errors.Is(err, context.Canceled) {
			t.Fatalf("second Shutdown = %v, want the first's result", err)
		}
		// The abandoned scrape was refused (context error) and is counted when dropped.
		if got := testutil.MetricValue(t, reg.Registry, "otlp_dropped_metric_points_total", "reason", selftel.ReasonShutdown); got != 1 {
			t.Fatalf("dropped at shutdown: %v, want 1", got)
		}
	})
}

func TestResourceDefaults(t *testing.T) {
	r := newFake(t, Settings{Consumer: &recorder{}, Resource: map[string]string{"host.name": "edge-7"},
		Now: func() time.Time { return time.Unix(1700000000, 0) }}, fake{name: "a"})
	md := r.scrape(t.Context())
	res := md.ResourceMetrics().At(0).Resource().Attributes()
	if v, _ := res.Get("host.name"); v.AsString() != "edge-7" {
		t.Errorf("host.name = %q", v.AsString())
	}
	if v, _ := res.Get("os.type"); v.AsString() != runtime.GOOS {
		t.Errorf("os.type = %q", v.AsString())
	}
	if ts := points(md)["test.a"][0].Timestamp(); ts != pcommon.Timestamp(1700000000*1e9) {
		t.Errorf("timestamp %v", ts)
	}
}
