// Package tailsampling is the "tail_sampling" processor: it holds each trace's spans until
// decision_wait after its first span, then keeps or drops the whole trace by its policies,
// with the configuration of the Collector's tailsamplingprocessor. Spans arriving after the
// decision follow it. Memory is bounded by bytes: when the held traces would exceed max_bytes
// (or num_traces), the oldest are decided early rather than dropped, so no trace is split
// between kept and dropped spans; every decision and early decision is counted.
package tailsampling

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/otlpwire"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/resilience"
)

// Config is [processors.tail_sampling].
type Config struct {
	DecisionWait time.Duration `toml:"decision_wait"`
	// NumTraces bounds how many traces are held at once.
	NumTraces int `toml:"num_traces"`
	// MaxBytes bounds the encoded size of the spans held; over it the oldest traces are
	// decided early.
	MaxBytes int64 `toml:"max_bytes"`
	// ExpectedNewTracesPerSec is accepted for the Collector's vocabulary (a sizing hint).
	ExpectedNewTracesPerSec int            `toml:"expected_new_traces_per_sec"`
	DecisionCache           DecisionCache  `toml:"decision_cache"`
	Policies                []PolicyConfig `toml:"policies"`
}

// DecisionCache sizes the memory of decisions made, by which late spans follow their trace.
type DecisionCache struct {
	SampledCacheSize    int `toml:"sampled_cache_size"`
	NonSampledCacheSize int `toml:"non_sampled_cache_size"`
}

// NewDefaultConfig returns the defaults: the Collector's decision_wait and num_traces, a
// 256 MiB byte budget and 100,000 remembered decisions of each kind.
func NewDefaultConfig() Config {
	return Config{DecisionWait: 30 * time.Second, NumTraces: 50000, MaxBytes: 256 << 20,
		DecisionCache: DecisionCache{SampledCacheSize: 100000, NonSampledCacheSize: 100000}}
}

// Validate checks the settings and compiles the policies.
func (c *Config) Validate() error {
	var errs []error
	if c.DecisionWait <= 0 {
		errs = append(errs, fmt.Errorf("decision_wait: must be > 0, got %s", c.DecisionWait))
	}
	if c.NumTraces <= 0 {
		errs = append(errs, fmt.Errorf("num_traces: must be > 0, got %d", c.NumTraces))
	}
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_bytes: must be > 0, got %d", c.MaxBytes))
	}
	if c.DecisionCache.SampledCacheSize < 1 || c.DecisionCache.NonSampledCacheSize < 1 {
		// Without a remembered decision a late span would start its trace anew and could be
		// decided otherwise: the trace would be split.
		errs = append(errs, errors.New("decision_cache: sampled_cache_size and non_sampled_cache_size must be > 0 (late spans follow a remembered decision; keep them at least num_traces)"))
	}
	if _, err := c.compile(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

type namedPolicy struct {
	name string
	eval evaluator
}

func (c *Config) compile() ([]namedPolicy, error) {
	if len(c.Policies) == 0 {
		return nil, errors.New("policies: at least one policy is required")
	}
	var out []namedPolicy
	var errs []error
	names := map[string]bool{}
	for i, p := range c.Policies {
		e, err := compilePolicy(p, false)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("policies[%d] (%s): %w", i, p.Name, err))
		case p.Name == "":
			errs = append(errs, fmt.Errorf("policies[%d].name: required", i))
		case names[p.Name]:
			errs = append(errs, fmt.Errorf("policies[%d].name: %q is used twice", i, p.Name))
		}
		names[p.Name] = true
		out = append(out, namedPolicy{p.Name, e})
	}
	return out, errors.Join(errs...)
}

// Settings are what tests inject; zero values use the real clock.
type Settings struct {
	// Tick triggers the decisions due at the time it sends; nil: a ticker of decision_wait/10
	// (at most a second).
	Tick <-chan time.Time
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// NewFactory returns the factory of the "tail_sampling" processor (traces).
func NewFactory() component.ProcessorFactory {
	return component.NewProcessorFactory("tail_sampling", []pipeline.Signal{pipeline.SignalTraces},
		func() *Config { c := NewDefaultConfig(); return &c },
		func(_ context.Context, _ component.PipelineSettings, cfg *Config, next pipeline.Consumer) (component.Processor, error) {
			return New(*cfg, Settings{}, next)
		})
}

// Stats count what the processor did.
type Stats struct {
	Sampled, NotSampled uint64 // traces decided
	Early               uint64 // of those, decided before decision_wait to stay within bounds
	LateSampled         uint64 // spans passed on after their trace was kept
	LateDropped         uint64 // spans dropped after their trace was dropped
	SpansKept           uint64
	Lost                uint64 // kept spans that could not be passed on before shutdown
	HeldTraces          int
	HeldBytes           int64
	PeakBytes           int64
}

// held is one trace waiting for its decision, kept as the wire bytes of its spans: each
// fragment is an export request holding only this trace's spans (with their resources and
// scopes), so their concatenation is one request again, and the byte budget counts what is
// really held.
type held struct {
	id    pcommon.TraceID
	first time.Time
	bytes int64
	spans int
	frags [][]byte
}

// Processor is the tail sampler.
type Processor struct {
	cfg      Config
	set      Settings
	policies []namedPolicy
	next     pipeline.Consumer

	mu      sync.Mutex // guards everything below
	traces  map[pcommon.TraceID]*held
	order   []*held // by first arrival; an entry no longer in traces was decided early
	bytes   int64
	peak    int64
	kept    *idCache
	dropped *idCache

	sampledN, notSampledN, earlyN, lateKept, lateDropped, spansKept, lostN atomic.Uint64

	// ctx bounds passing on what decisions keep; it ends when Shutdown's context does.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{} // closed by Shutdown: the decision loop ends
	done   chan struct{} // closed when the decision loop has ended
}

// New builds the processor.
func New(cfg Config, set Settings, next pipeline.Consumer) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pols, _ := cfg.compile()
	if set.Now == nil {
		set.Now = time.Now
	}
	return &Processor{cfg: cfg, set: set, policies: pols, next: next, traces: map[pcommon.TraceID]*held{},
		kept: newIDCache(cfg.DecisionCache.SampledCacheSize), dropped: newIDCache(cfg.DecisionCache.NonSampledCacheSize)}, nil
}

// Start runs the decision loop.
func (p *Processor) Start(context.Context) error {
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	tick := p.set.Tick
	var ticker *time.Ticker
	if tick == nil {
		every := p.cfg.DecisionWait / 10
		if every > time.Second {
			every = time.Second
		}
		if every < time.Millisecond {
			every = time.Millisecond
		}
		ticker = time.NewTicker(every)
		tick = ticker.C
	}
	go func() {
		defer close(p.done)
		if ticker != nil {
			defer ticker.Stop()
		}
		for {
			select {
			case <-p.stop:
				return
			case now := <-tick:
				p.decideDue(p.ctx, now)
			}
		}
	}()
	return nil
}

// Shutdown decides every held trace now and passes on what is kept, within ctx: a decision
// the loop is passing on finishes first, unless ctx ends.
func (p *Processor) Shutdown(ctx context.Context) error {
	if p.cancel != nil {
		stopAfter := context.AfterFunc(ctx, p.cancel)
		defer func() {
			stopAfter()
			p.cancel()
		}()
		select {
		case <-p.stop:
		default:
			close(p.stop)
		}
		<-p.done
	}
	p.mu.Lock()
	var all []*held
	for _, h := range p.order {
		if h != nil && p.traces[h.id] == h {
			all = append(all, p.takeLocked(h))
		}
	}
	p.order = nil
	out := p.decideLocked(all, p.set.Now())
	p.mu.Unlock()
	return p.emit(ctx, out)
}

// Stats reports the counts so far.
func (p *Processor) Stats() Stats {
	p.mu.Lock()
	n, b, peak := len(p.traces), p.bytes, p.peak
	p.mu.Unlock()
	return Stats{Sampled: p.sampledN.Load(), NotSampled: p.notSampledN.Load(), Early: p.earlyN.Load(),
		LateSampled: p.lateKept.Load(), LateDropped: p.lateDropped.Load(), SpansKept: p.spansKept.Load(), Lost: p.lostN.Load(),
		HeldTraces: n, HeldBytes: b, PeakBytes: peak}
}

// Consume holds the batch's spans by trace; spans of traces already decided follow the
// decision at once. The request is cut by trace at the wire level (otlpwire.Partition); no
// span is decoded until its trace is decided.
func (p *Processor) Consume(ctx context.Context, b pipeline.Batch) error {
	n := b.Items
	if n <= 0 {
		sum, err := otlpwire.Scan(pipeline.SignalTraces, b.Body)
		if err != nil {
			return resilience.Permanent(fmt.Errorf("tail_sampling: %w", err))
		}
		n = sum.Items
	}
	if n == 0 {
		return nil
	}
	type part struct {
		id    pcommon.TraceID
		body  []byte
		spans int
	}
	var ids []pcommon.TraceID
	index := map[pcommon.TraceID]int{}
	var parts []part
	partition := func(n int) error {
		ids, parts = ids[:0], parts[:0]
		clear(index)
		return otlpwire.Partition(pipeline.SignalTraces, b.Body, n, func(key []byte) int {
			var id pcommon.TraceID
			copy(id[:], key)
			i, ok := index[id]
			if !ok {
				i = len(ids)
				index[id] = i
				ids = append(ids, id)
			}
			return i
		}, func(i int, body []byte, items int) error {
			parts = append(parts, part{ids[i], body, items})
			return nil
		})
	}
	err := partition(n)
	if errors.Is(err, otlpwire.ErrPartOutOfRange) {
		// The batch said it held fewer spans than it does: count them.
		if sum, serr := otlpwire.Scan(pipeline.SignalTraces, b.Body); serr == nil {
			err = partition(sum.Items)
		}
	}
	if err != nil {
		return resilience.Permanent(fmt.Errorf("tail_sampling: %w", err))
	}
	now := p.set.Now()
	var late []byte
	var early []*held
	var out []byte
	p.mu.Lock()
	for _, pt := range parts {
		switch {
		case p.kept.has(pt.id):
			late = append(late, pt.body...)
			p.lateKept.Add(uint64(pt.spans))
			continue
		case p.dropped.has(pt.id):
			p.lateDropped.Add(uint64(pt.spans))
			continue
		}
		h := p.traces[pt.id]
		if h == nil {
			h = &held{id: pt.id, first: now}
			p.traces[pt.id] = h
			p.order = append(p.order, h)
		}
		// A copy, so that the request's buffer is not kept alive by one trace of it.
		h.frags = append(h.frags, append([]byte(nil), pt.body...))
		h.spans += pt.spans
		h.bytes += int64(len(pt.body))
		p.bytes += int64(len(pt.body))
	}
	// Over a bound: the oldest traces are decided now.
	for len(p.order) > 0 && (p.bytes > p.cfg.MaxBytes || len(p.traces) > p.cfg.NumTraces) {
		h := p.order[0]
		p.order[0] = nil // the backing array must not keep decided traces alive
		p.order = p.order[1:]
		if h == nil || p.traces[h.id] != h {
			continue
		}
		early = append(early, p.takeLocked(h))
	}
	p.compactLocked()
	if p.bytes > p.peak {
		p.peak = p.bytes
	}
	if len(early) > 0 {
		p.earlyN.Add(uint64(len(early)))
		out = p.decideLocked(early, now)
	}
	p.mu.Unlock()
	// The traces decided early came with earlier requests, already accepted: their delivery
	// is the processor's (retried until shutdown), not this caller's to fail or to resend.
	// The caller waits for it, which slows a sender while the stages behind are full.
	p.emitOwned(out)
	return p.emit(ctx, late)
}

// emitOwned passes on kept spans of accepted requests; what cannot be delivered before
// shutdown is counted as lost.
func (p *Processor) emitOwned(body []byte) {
	ctx := p.ctx
	if ctx == nil {
		ctx = context.Background() // not started: only Shutdown decides, with its own context
	}
	if err := p.emit(ctx, body); err != nil {
		if sum, serr := otlpwire.Scan(pipeline.SignalTraces, body); serr == nil {
			p.lostN.Add(uint64(sum.Items))
		}
	}
}

// takeLocked removes h from the held set.
func (p *Processor) takeLocked(h *held) *held {
	delete(p.traces, h.id)
	p.bytes -= h.bytes
	return h
}

// compactLocked drops the decided entries at the front of order.
func (p *Processor) compactLocked() {
	for len(p.order) > 0 && (p.order[0] == nil || p.traces[p.order[0].id] != p.order[0]) {
		p.order[0] = nil
		p.order = p.order[1:]
	}
}

// decideDue decides the traces whose wait is over.
func (p *Processor) decideDue(ctx context.Context, now time.Time) {
	p.mu.Lock()
	var due []*held
	for len(p.order) > 0 {
		h := p.order[0]
		if h != nil && p.traces[h.id] == h && now.Sub(h.first) < p.cfg.DecisionWait {
			break
		}
		p.order[0] = nil
		p.order = p.order[1:]
		if h != nil && p.traces[h.id] == h {
			due = append(due, p.takeLocked(h))
		}
	}
	out := p.decideLocked(due, now)
	p.mu.Unlock()
	// A refusal downstream is retried until shutdown ends; what is still refused then is
	// counted as lost.
	p.emitOwned(out)
}

// decideLocked runs the policies on each trace and remembers the decision, in one step with
// taking it from the held set, so that a span arriving meanwhile follows the decision. It
// returns the kept spans as one request.
func (p *Processor) decideLocked(hs []*held, now time.Time) []byte {
	var out []byte
	ds := make([]decision, len(p.policies))
	sec := now.Unix()
	for _, h := range hs {
		body := h.frags[0]
		if len(h.frags) > 1 {
			body = nil
			for _, f := range h.frags {
				body = append(body, f...)
			}
		}
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body)
		keep := false
		if err == nil {
			t := trace{td: td, spans: h.spans}
			for i, pol := range p.policies {
				ds[i] = pol.eval.evaluate(h.id, &t, sec)
			}
			keep = final(ds)
		}
		h.frags = nil // decided: only out (if kept) holds its spans now
		if keep {
			p.kept.add(h.id)
			p.sampledN.Add(1)
			out = append(out, body...)
		} else {
			p.dropped.add(h.id)
			p.notSampledN.Add(1)
		}
	}
	return out
}

// emit passes kept spans (an encoded request) on, retrying a refusal until ctx ends.
func (p *Processor) emit(ctx context.Context, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	sum, err := otlpwire.Scan(pipeline.SignalTraces, body)
	if err != nil {
		return resilience.Permanent(fmt.Errorf("tail_sampling: %w", err))
	}
	p.spansKept.Add(uint64(sum.Items))
	return pipeline.Deliver(ctx, p.next, pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: sum.Items})
}

// idCache remembers the last n trace IDs added.
type idCache struct {
	n    int
	ids  map[pcommon.TraceID]struct{}
	ring []pcommon.TraceID
	next int
}

func newIDCache(n int) *idCache {
	return &idCache{n: n, ids: make(map[pcommon.TraceID]struct{}, min(n, 1<<16))}
}

func (c *idCache) has(id pcommon.TraceID) bool { _, ok := c.ids[id]; return ok }

func (c *idCache) add(id pcommon.TraceID) {
	if c.n == 0 {
		return
	}
	if len(c.ring) < c.n {
		c.ring = append(c.ring, id)
	} else {
		delete(c.ids, c.ring[c.next])
		c.ring[c.next] = id
		c.next = (c.next + 1) % c.n
	}
	c.ids[id] = struct{}{}
}
