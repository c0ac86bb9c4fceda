// Package tap lets side services (rule engine, anomaly engine, trace store) see the data that
// flows through pipelines without slowing or blocking them.
//
// A Hub owns the tap points of a server: one where each receiver hands a signal to its
// pipelines (Received) and one where each pipeline hands its data to its exporters and
// connectors (Exported). The server wraps those consumers with Hub.Wrap; a service subscribes
// with Hub.Subscribe. A subscription is bounded by batches and bytes held: when it is full, a
// batch is skipped for it and counted, never waited for. A point with no subscriber costs one
// atomic load per batch, and a full subscriber costs no copy.
package tap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/otlp-dev/otlp/internal/bufpool"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Position is where in the data path a point sits.
type Position uint8

const (
	// Received is what a receiver accepted for a signal, once per request even when it feeds
	// several pipelines; the point's name is the receiver's.
	Received Position = iota + 1
	// Exported is what a pipeline hands its exporters and connectors after its processors;
	// the point's name is the pipeline's.
	Exported
)

func (p Position) String() string {
	switch p {
	case Received:
		return "received"
	case Exported:
		return "exported"
	}
	return fmt.Sprintf("position(%d)", uint8(p))
}

// Selector chooses the points a subscription reads.
type Selector struct {
	Position Position
	// Signal is the signal to read; 0 reads every signal.
	Signal pipeline.Signal
	// Name is the receiver (Received) or pipeline (Exported) to read; "" reads all of them.
	Name string
}

func (s Selector) matches(k pointKey) bool {
	return s.Position == k.pos && (s.Signal == 0 || s.Signal == k.sig) && (s.Name == "" || s.Name == k.name)
}

// Options bound what a subscription holds: batches handed to it and not yet released.
type Options struct {
	// MaxBatches is the most batches held; 0: 256.
	MaxBatches int
	// MaxBytes is the most bytes held; 0: 16 MiB. A batch larger than this is always skipped.
	MaxBytes int
}

const (
	defaultMaxBatches = 256
	defaultMaxBytes   = 16 << 20
)

// Stats count what a subscription was handed and what it had to skip because it was full.
type Stats struct {
	Batches, Items               uint64
	SkippedBatches, SkippedItems uint64
}

// Batch is one batch handed to a subscriber. Body is the subscriber's to read until Release;
// Owner is always nil.
type Batch struct {
	pipeline.Batch
	Position Position
	// Name is the receiver or pipeline of the point.
	Name string
	d    *delivery
}

// Release gives the batch's memory back and frees its place in the subscription's bounds.
// Call it once per batch; later calls do nothing.
func (b Batch) Release() {
	if b.d != nil {
		b.d.release()
	}
}

// delivery is one subscription's hold on a shared copy.
type delivery struct {
	sub  *Subscription
	sh   *shared
	done atomic.Bool
}

func (d *delivery) release() {
	if !d.done.CompareAndSwap(false, true) {
		return
	}
	d.sub.unreserve(len(d.sh.body))
	d.sh.unref()
}

// shared is one copy of a batch's body read by every subscription of a point.
type shared struct {
	hub  *Hub
	body []byte
	refs atomic.Int32
}

func (s *shared) unref() {
	if s.refs.Add(-1) == 0 {
		s.hub.free.Put(s.body)
	}
}

// Subscription receives the batches of the points its selector matches.
type Subscription struct {
	name       string
	sel        Selector
	hub        *Hub
	ch         chan Batch
	maxBatches int64
	maxBytes   int64

	held      atomic.Int64 // batches reserved or held
	heldBytes atomic.Int64
	closed    atomic.Bool

	batches, items               atomic.Uint64
	skippedBatches, skippedItems atomic.Uint64
}

// Name is the subscriber's name, as given to Subscribe.
func (s *Subscription) Name() string { return s.name }

// Selector is what the subscription reads.
func (s *Subscription) Selector() Selector { return s.sel }

// C delivers the batches. It is never closed: a subscriber selects on it and on its own
// context, and releases each batch it takes.
func (s *Subscription) C() <-chan Batch { return s.ch }

// Recv waits for the next batch or for ctx to end.
func (s *Subscription) Recv(ctx context.Context) (Batch, error) {
	select {
	case b := <-s.ch:
		return b, nil
	case <-ctx.Done():
		return Batch{}, ctx.Err()
	}
}

// Stats returns the subscription's counts.
func (s *Subscription) Stats() Stats {
	return Stats{Batches: s.batches.Load(), Items: s.items.Load(),
		SkippedBatches: s.skippedBatches.Load(), SkippedItems: s.skippedItems.Load()}
}

// Close detaches the subscription from its points and releases what it still holds in C.
// Idempotent.
func (s *Subscription) Close() {
	if !s.closed.CompareAndSwap(false, true) {
		return
	}
	s.hub.detach(s)
	for {
		select {
		case b := <-s.ch:
			b.Release()
		default:
			return
		}
	}
}

// reserve takes room for a batch of n bytes; false when the subscription is full or closed.
func (s *Subscription) reserve(n int) bool {
	if s.closed.Load() {
		return false
	}
	if s.held.Add(1) > s.maxBatches {
		s.held.Add(-1)
		return false
	}
	if s.heldBytes.Add(int64(n)) > s.maxBytes {
		s.heldBytes.Add(-int64(n))
		s.held.Add(-1)
		return false
	}
	return true
}

func (s *Subscription) unreserve(n int) {
	s.heldBytes.Add(-int64(n))
	s.held.Add(-1)
}

func (s *Subscription) skip(items int) {
	s.skippedBatches.Add(1)
	s.skippedItems.Add(uint64(items))
}

type pointKey struct {
	pos  Position
	sig  pipeline.Signal
	name string
}

// point is one place in the data path; it outlives configuration generations, so that a
// subscription keeps reading a pipeline across a reload.
type point struct {
	key  pointKey
	subs atomic.Pointer[[]*Subscription]
}

// Hub owns a server's points and subscriptions. Safe for concurrent use.
type Hub struct {
	mu     sync.Mutex
	points map[pointKey]*point        // guarded by mu
	subs   map[*Subscription]struct{} // guarded by mu
	closed map[totalsKey]Stats        // guarded by mu; counts of closed subscriptions, so totals never go down
	free   bufpool.FreeList           // copies for reuse
}

// NewHub returns a hub with no points and no subscriptions.
func NewHub() *Hub {
	return &Hub{points: map[pointKey]*point{}, subs: map[*Subscription]struct{}{}, closed: map[totalsKey]Stats{},
		free: bufpool.FreeList{MaxBuffers: 64, MaxBytes: 64 << 20}}
}

// ErrSelector is returned for a selector without a valid position.
var ErrSelector = errors.New("tap: selector needs a position (Received or Exported)")

// Subscribe adds a subscription named name (the subscriber, for its metrics) reading the points
// sel matches, now and those added later.
func (h *Hub) Subscribe(name string, sel Selector, opt Options) (*Subscription, error) {
	if sel.Position != Received && sel.Position != Exported {
		return nil, ErrSelector
	}
	if opt.MaxBatches <= 0 {
		opt.MaxBatches = defaultMaxBatches
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = defaultMaxBytes
	}
	s := &Subscription{name: name, sel: sel, hub: h, ch: make(chan Batch, opt.MaxBatches),
		maxBatches: int64(opt.MaxBatches), maxBytes: int64(opt.MaxBytes)}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	for k, p := range h.points {
		if sel.matches(k) {
			h.refreshLocked(p)
		}
	}
	return s, nil
}

type totalsKey struct {
	subscriber string
	pos        Position
}

func (a Stats) add(b Stats) Stats {
	return Stats{a.Batches + b.Batches, a.Items + b.Items, a.SkippedBatches + b.SkippedBatches, a.SkippedItems + b.SkippedItems}
}

// Total is what one subscriber has read at one position, over every subscription it made.
type Total struct {
	Subscriber string
	Position   Position
	Stats
	// HeldBytes is what its open subscriptions hold now.
	HeldBytes int64
}

// Totals sums the counts by subscriber and position, closed subscriptions included, so that
// they only grow (what /metrics publishes).
func (h *Hub) Totals() []Total {
	h.mu.Lock()
	defer h.mu.Unlock()
	by := map[totalsKey]*Total{}
	get := func(k totalsKey) *Total {
		t := by[k]
		if t == nil {
			t = &Total{Subscriber: k.subscriber, Position: k.pos}
			by[k] = t
		}
		return t
	}
	for k, st := range h.closed {
		t := get(k)
		t.Stats = t.Stats.add(st)
	}
	for s := range h.subs {
		t := get(totalsKey{s.name, s.sel.Position})
		t.Stats = t.Stats.add(s.Stats())
		t.HeldBytes += s.heldBytes.Load()
	}
	out := make([]Total, 0, len(by))
	for _, t := range by {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Total) int {
		if c := strings.Compare(a.Subscriber, b.Subscriber); c != 0 {
			return c
		}
		return int(a.Position) - int(b.Position)
	})
	return out
}

// Subscriptions lists the open subscriptions (for metrics).
func (h *Hub) Subscriptions() []*Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Subscription, 0, len(h.subs))
	for s := range h.subs {
		out = append(out, s)
	}
	return out
}

func (h *Hub) detach(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
	k := totalsKey{s.name, s.sel.Position}
	h.closed[k] = h.closed[k].add(s.Stats())
	for k, p := range h.points {
		if s.sel.matches(k) {
			h.refreshLocked(p)
		}
	}
}

func (h *Hub) refreshLocked(p *point) {
	var subs []*Subscription
	for s := range h.subs {
		if s.sel.matches(p.key) {
			subs = append(subs, s)
		}
	}
	if len(subs) == 0 {
		p.subs.Store(nil)
		return
	}
	p.subs.Store(&subs)
}

// Wrap returns next behind the point (pos, sig, name): every batch next accepts is offered to
// the point's subscriptions. The same point serves every generation that wraps it.
func (h *Hub) Wrap(pos Position, sig pipeline.Signal, name string, next pipeline.Consumer) pipeline.Consumer {
	k := pointKey{pos: pos, sig: sig, name: name}
	h.mu.Lock()
	p, ok := h.points[k]
	if !ok {
		p = &point{key: k}
		h.points[k] = p
		h.refreshLocked(p)
	}
	h.mu.Unlock()
	return &stage{hub: h, p: p, next: next}
}

// stage is a tap point in a pipeline.
type stage struct {
	hub  *Hub
	p    *point
	next pipeline.Consumer
}

// Consume hands b to next and, when next accepted it, a copy to each subscription with room.
// The copy is made before next runs, because a consumer may take b's Body (pipeline.Owner);
// a subscription without room is counted as skipping b and costs no copy.
func (s *stage) Consume(ctx context.Context, b pipeline.Batch) error {
	subs := s.p.subs.Load()
	if subs == nil {
		return s.next.Consume(ctx, b)
	}
	var room [4]*Subscription
	taking := room[:0]
	for _, sub := range *subs {
		if sub.reserve(len(b.Body)) {
			taking = append(taking, sub)
		} else {
			sub.skip(b.Items)
		}
	}
	if len(taking) == 0 {
		return s.next.Consume(ctx, b)
	}
	body := s.hub.free.Get(len(b.Body))
	sh := &shared{hub: s.hub, body: append(body, b.Body...)}
	sh.refs.Store(int32(len(taking)))
	err := s.next.Consume(ctx, b)
	for _, sub := range taking {
		d := &delivery{sub: sub, sh: sh}
		if err != nil {
			// Not accepted: the sender is told and may send it again.
			d.release()
			continue
		}
		sub.batches.Add(1)
		sub.items.Add(uint64(b.Items))
		// Never blocks: reserve keeps what is held, and so what is in ch, within its capacity.
		sub.ch <- Batch{Batch: pipeline.Batch{Signal: b.Signal, Body: sh.body, Items: b.Items},
			Position: s.p.key.pos, Name: s.p.key.name, d: d}
	}
	return err
}
