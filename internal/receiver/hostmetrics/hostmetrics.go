// Package hostmetrics scrapes the metrics of the host it runs on (CPU, memory, disks, network
// interfaces, filesystems, load average) at an interval and hands them to a metrics pipeline as
// OTLP export requests.
//
// Names, units and attributes follow the OpenTelemetry semantic conventions for system metrics
// as the Collector's hostmetrics receiver emits them, with host.name and os.type on the
// resource. A scraper that fails is logged and counted; the others still report.
package hostmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/host"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// transport labels this receiver in the self-metrics.
const transport = "hostmetrics"

// scopePrefix + scraper name is the instrumentation scope of each family.
const scopePrefix = "github.com/otlp-dev/otlp/receiver/hostmetrics/"

// Settings is what the server injects.
type Settings struct {
	Logger   *slog.Logger     // nil: discard
	Metrics  *selftel.Metrics // nil: no self-metrics
	Consumer pipeline.Consumer
	// Resource attributes of every batch. host.name defaults to the host name and os.type to
	// the operating system.
	Resource map[string]string
	// Tick, when set, triggers the scrapes after the first one instead of a ticker at the
	// collection interval (tests inject ticks here).
	Tick <-chan time.Time
	// Now stamps the data points; nil: time.Now.
	Now func() time.Time
}

type namedScraper struct {
	name string
	scraper
}

// Receiver scrapes the host. Build it with New.
type Receiver struct {
	cfg      Config
	log      *slog.Logger
	metrics  *selftel.Metrics
	consumer pipeline.Consumer
	resource map[string]string
	scrapers []namedScraper
	tick     <-chan time.Time
	now      func() time.Time

	// Only the collecting goroutine touches these.
	boot    pcommon.Timestamp // start of the kernel's cumulative counters
	pending *pipeline.Batch   // the last refused scrape, sent again with the next one

	mu      sync.Mutex
	state   int                // guarded by mu: idle, running, stopped
	stop    chan struct{}      // closed by Shutdown: finish the current scrape and return
	cancel  context.CancelFunc // guarded by mu: abandons an in-flight scrape or delivery
	done    chan struct{}      // closed when the goroutine returns
	stopErr error              // guarded by mu: the first Shutdown's result
}

const (
	stateIdle = iota
	stateRunning
	stateStopped
)

// New checks cfg and builds a receiver ready to Start.
func New(cfg Config, set Settings) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Consumer == nil {
		return nil, errors.New("hostmetrics: no consumer")
	}
	r := &Receiver{
		cfg:      cfg,
		log:      set.Logger,
		metrics:  set.Metrics,
		consumer: set.Consumer,
		resource: maps.Clone(set.Resource),
		tick:     set.Tick,
		now:      set.Now,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("receiver", "hostmetrics")
	if r.now == nil {
		r.now = time.Now
	}
	if r.resource == nil {
		r.resource = map[string]string{}
	}
	if r.resource["host.name"] == "" {
		name, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("hostmetrics: host.name: %w", err)
		}
		r.resource["host.name"] = name
	}
	if r.resource["os.type"] == "" {
		r.resource["os.type"] = runtime.GOOS
	}
	for _, name := range cfg.scrapers() {
		r.scrapers = append(r.scrapers, namedScraper{name: name, scraper: newScraper(name)})
	}
	return r, nil
}

// Start scrapes once at once, then every collection interval, on a goroutine it owns.
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != stateIdle {
		return errors.New("hostmetrics: already started or shut down")
	}
	r.state = stateRunning
	// Background work outlives Start's context; Shutdown cancels it.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	tick, stopTicker := r.tick, func() {}
	if tick == nil {
		t := time.NewTicker(r.cfg.CollectionInterval)
		tick, stopTicker = t.C, t.Stop
	}
	go r.run(runCtx, tick, stopTicker)
	return nil
}

// Shutdown stops scraping. It lets a scrape in progress finish until ctx ends, then abandons
// it. Idempotent and safe without Start.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	switch r.state {
	case stateIdle:
		r.state = stateStopped
		close(r.done) // no goroutine will
		r.mu.Unlock()
		return nil
	case stateStopped:
		err := r.stopErr
		r.mu.Unlock()
		<-r.done
		return err
	}
	r.state = stateStopped
	close(r.stop)
	cancel := r.cancel
	r.mu.Unlock()

	var err error
	select {
	case <-r.done:
	case <-ctx.Done():
		err = ctx.Err()
		cancel()
		<-r.done
	}
	cancel()
	r.mu.Lock()
	r.stopErr = err
	r.mu.Unlock()
	return err
}

func (r *Receiver) run(ctx context.Context, tick <-chan time.Time, stopTicker func()) {
	defer close(r.done)
	defer stopTicker()
	r.boot = bootTime(ctx, r.now())
	for {
		r.collect(ctx)
		select {
		case <-r.stop:
			if r.pending != nil {
				r.metrics.Dropped(pipeline.SignalMetrics, selftel.ReasonShutdown, r.pending.Items)
			}
			return
		case <-tick:
		}
	}
}

// bootTime is when the kernel's counters started; the process start if it cannot be read.
func bootTime(ctx context.Context, fallback time.Time) pcommon.Timestamp {
	secs, err := host.BootTimeWithContext(ctx)
	if err != nil || secs == 0 {
		return pcommon.NewTimestampFromTime(fallback)
	}
	return pcommon.NewTimestampFromTime(time.Unix(int64(secs), 0))
}

// collect runs every scraper and delivers what they produced.
func (r *Receiver) collect(ctx context.Context) {
	md := r.scrape(ctx)
	if md.DataPointCount() == 0 {
		return
	}
	r.deliver(ctx, md)
}

// scrape builds one batch; a failing scraper is logged and counted and the others still run.
func (r *Receiver) scrape(ctx context.Context) pmetric.Metrics {
	sctx, cancel := context.WithTimeout(ctx, r.cfg.CollectionInterval)
	defer cancel()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	attrs := rm.Resource().Attributes()
	for _, k := range slices.Sorted(maps.Keys(r.resource)) {
		attrs.PutStr(k, r.resource[k])
	}
	ts := stamps{start: r.boot, now: pcommon.NewTimestampFromTime(r.now())}
	for _, s := range r.scrapers {
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopePrefix + s.name)
		if err := s.scrape(sctx, ts, sm.Metrics()); err != nil {
			r.log.Warn("scrape failed", "scraper", s.name, "error", err)
			r.metrics.Error(transport, pipeline.SignalMetrics, "scrape_"+s.name)
		}
		sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return dataPoints(m) == 0 })
	}
	rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool { return sm.Metrics().Len() == 0 })
	return md
}

func dataPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	}
	return 0
}

// deliver hands md, after the scrape refused last time if any, to the consumer. A refused
// scrape is kept for the next interval; only one is kept, so a long refusal costs memory for
// two scrapes at most and drops (counted) the older one.
func (r *Receiver) deliver(ctx context.Context, md pmetric.Metrics) {
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		r.log.Error("encoding host metrics", "error", err)
		r.metrics.Dropped(pipeline.SignalMetrics, selftel.ReasonInvalid, md.DataPointCount())
		return
	}
	fresh := pipeline.Batch{Signal: pipeline.SignalMetrics, Body: body, Items: md.DataPointCount()}
	b := fresh
	if r.pending != nil {
		// Two encoded requests concatenated are one request with both.
		b.Body = append(r.pending.Body, body...)
		b.Items += r.pending.Items
	}
	err = r.consumer.Consume(ctx, b)
	switch {
	case err == nil:
		r.metrics.Received(pipeline.SignalMetrics, transport, b.Items)
		r.pending = nil
	case resilience.IsPermanent(err):
		r.log.Warn("host metrics rejected", "points", b.Items, "error", err)
		r.metrics.Dropped(pipeline.SignalMetrics, selftel.ReasonExportFailed, b.Items)
		r.pending = nil
	default:
		reason := "unavailable"
		if _, ok := resilience.RetryAfter(err); ok {
			reason = "throttled"
		}
		r.metrics.Refused(pipeline.SignalMetrics, reason, b.Items)
		if r.pending != nil {
			r.metrics.Dropped(pipeline.SignalMetrics, selftel.ReasonQueueFull, r.pending.Items)
		}
		r.log.Warn("host metrics refused; sending them with the next scrape", "points", fresh.Items, "error", err)
		r.pending = &fresh
	}
}
