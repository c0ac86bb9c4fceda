// Package balance sends an exporter's attempts through a load balancer (internal/lb) to one of
// a changing set of collector endpoints, with one client (connection) per endpoint.
//
// A Router is the sender's Consumer: the queue, the retries and the accounting stay in the
// sender, and each of its attempts is routed when it is made. A batch is never bound to an
// endpoint while it waits, so endpoints may come and go without losing queued data. Within an
// attempt the balancer fails over from an endpoint that fails to the next healthy one, and
// tries the unhealthy ones when no healthy one is left (fail-open).
//
// With the consistent_hash policy a batch is cut by trace id (otlpwire.Partition): the spans
// of a trace, and the log records that carry its id, all go to the endpoint that owns the
// trace. Each part is sent on its own, in parallel, and fails over on its own. Metrics are cut
// by resource, so that a resource's series stay on one endpoint.
package balance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/internal/otlpwire"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// Client makes single attempts to one endpoint.
type Client interface {
	Consume(ctx context.Context, b pipeline.Batch) error
	// Close releases the client's connections; no attempt is running on it.
	Close() error
}

// ErrEndpointGone is the (retryable) error of an attempt routed to an endpoint that left the
// set, or whose client could not be made: the balancer fails over to another.
var ErrEndpointGone = errors.New("balance: endpoint has no client")

// Settings are injected by the exporter.
type Settings struct {
	Name    string // the exporter's, for logs and metrics
	Logger  *slog.Logger
	Metrics *selftel.Metrics
	// Dial makes the client of an endpoint that joined the set. It runs under the balancer's
	// update lock, so it must not block (grpc.NewClient does not connect).
	Dial func(addr string) (Client, error)
	// LB is passed to lb.New (clock, DNS, probe, resolver for tests); its OnUpdate, if set, is
	// called after the Router's.
	LB lb.Settings
}

// Router routes attempts; see the package documentation.
type Router struct {
	name    string
	log     *slog.Logger
	metrics *selftel.Metrics
	dial    func(string) (Client, error)
	bal     *lb.Balancer
	byKey   bool // consistent_hash: partition batches by trace id

	mu      sync.Mutex
	clients map[string]*conn // guarded by mu; by address
	closed  bool             // guarded by mu
	untrack func()           // guarded by mu
}

// conn is an endpoint's client and the attempts using it, so that an endpoint leaving the set
// is closed only once its last attempt finished.
type conn struct {
	c     Client
	users int  // guarded by Router.mu
	gone  bool // guarded by Router.mu; left the set
}

// New builds the balancer of cfg; a static endpoint list gets its clients at once.
func New(cfg lb.Config, set Settings) (*Router, error) {
	if set.Dial == nil {
		return nil, errors.New("balance: Settings.Dial is required")
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Router{name: set.Name, log: set.Logger, metrics: set.Metrics, dial: set.Dial,
		byKey: cfg.Policy == lb.PolicyConsistentHash, clients: map[string]*conn{}}
	ls := set.LB
	if ls.Logger == nil {
		ls.Logger = set.Logger
	}
	then := ls.OnUpdate
	ls.OnUpdate = func(added, removed []string) {
		r.update(added, removed)
		if then != nil {
			then(added, removed)
		}
	}
	bal, err := lb.New(cfg, ls)
	if err != nil {
		r.closeAll()
		return nil, err
	}
	r.bal = bal
	return r, nil
}

// update makes the clients of endpoints that joined and closes those of endpoints that left
// (once unused).
func (r *Router) update(added, removed []string) {
	var closing []Client
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	for _, addr := range removed {
		cn := r.clients[addr]
		if cn == nil {
			continue
		}
		delete(r.clients, addr)
		cn.gone = true
		if cn.users == 0 {
			closing = append(closing, cn.c)
		}
	}
	for _, addr := range added {
		c, err := r.dial(addr)
		if err != nil {
			r.log.Error("cannot make a client for endpoint; attempts fail over to the others", "endpoint", addr, "error", err)
			continue
		}
		r.clients[addr] = &conn{c: c}
	}
	r.mu.Unlock()
	for _, c := range closing {
		r.closeClient(c)
	}
}

func (r *Router) closeClient(c Client) {
	if err := c.Close(); err != nil {
		r.log.Debug("closing an endpoint client", "error", err)
	}
}

// acquire returns addr's client and the function that releases it.
func (r *Router) acquire(addr string) (*conn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cn := r.clients[addr]
	if cn == nil {
		return nil, fmt.Errorf("%w: %s", ErrEndpointGone, addr)
	}
	cn.users++
	return cn, nil
}

func (r *Router) release(cn *conn) {
	r.mu.Lock()
	cn.users--
	closeNow := cn.gone && cn.users == 0
	r.mu.Unlock()
	if closeNow {
		r.closeClient(cn.c)
	}
}

// endpoints is the number of endpoints with a client.
func (r *Router) endpoints() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.clients)
}

// Start resolves the endpoints (DNS, file) and starts re-resolution and health checks.
func (r *Router) Start(ctx context.Context) error {
	if err := r.bal.Start(ctx); err != nil {
		return err
	}
	untrack := r.metrics.TrackEndpoints(r.name, r.endpointStates)
	r.mu.Lock()
	r.untrack = untrack
	r.mu.Unlock()
	return nil
}

// Shutdown stops the balancer's background work and closes every client. Call it once no
// attempt runs any more (after the sender's Shutdown).
func (r *Router) Shutdown(ctx context.Context) error {
	err := r.bal.Shutdown(ctx)
	r.mu.Lock()
	untrack := r.untrack
	r.mu.Unlock()
	if untrack != nil {
		untrack()
	}
	r.closeAll()
	return err
}

func (r *Router) closeAll() {
	r.mu.Lock()
	r.closed = true
	clients := r.clients
	r.clients = map[string]*conn{}
	r.mu.Unlock()
	for _, cn := range clients {
		r.closeClient(cn.c)
	}
}

// Endpoints reports every endpoint's state.
func (r *Router) Endpoints() []lb.EndpointStatus { return r.bal.Endpoints() }

func (r *Router) endpointStates() []selftel.EndpointState {
	eps := r.bal.Endpoints()
	out := make([]selftel.EndpointState, len(eps))
	for i, e := range eps {
		out[i] = selftel.EndpointState{Address: e.Address, Up: e.Healthy, Successes: e.Successes, Failures: e.Failures}
	}
	return out
}

// Consume makes one attempt of b: one balanced call, or with consistent_hash one per part.
func (r *Router) Consume(ctx context.Context, b pipeline.Batch) error {
	if r.byKey && r.endpoints() > 1 {
		return r.consumeByKey(ctx, b)
	}
	return r.do(ctx, nil, b)
}

// do sends b through the balancer. A partial success is a success for the balancer (the
// endpoint answered; sending elsewhere would duplicate the rest) and is returned afterwards.
func (r *Router) do(ctx context.Context, key []byte, b pipeline.Batch) error {
	var partial *sender.PartialSuccess
	err := r.bal.Do(ctx, key, func(ctx context.Context, e *lb.Endpoint) error {
		cn, err := r.acquire(e.Address())
		if err != nil {
			return err
		}
		defer r.release(cn)
		err = cn.c.Consume(ctx, b)
		if errors.As(err, &partial) {
			return nil
		}
		return err
	})
	if err == nil && partial != nil {
		return partial
	}
	return err
}

// part is one piece of a batch and the key it is routed by.
type part struct {
	ep    *lb.Endpoint // the endpoint its keys go to first; nil for keyless items
	key   []byte       // one of its keys (copied), nil for keyless items
	body  []byte
	items int
	err   error
}

// consumeByKey cuts b by trace id so that each part goes to the endpoint its keys hash to, and
// sends the parts in parallel.
func (r *Router) consumeByKey(ctx context.Context, b pipeline.Batch) error {
	n := r.endpoints() + 1 // every endpoint, and the keyless items
	parts := make([]part, 0, n)
	keyless := -1
	keyOf := func(key []byte) int {
		var e *lb.Endpoint
		if key != nil {
			e = r.bal.Pick(key)
		}
		if e == nil {
			if keyless < 0 {
				keyless = len(parts)
				parts = append(parts, part{})
			}
			return keyless
		}
		for i := range parts {
			if parts[i].ep == e {
				return i
			}
		}
		if len(parts) == n {
			// The set grew since n was read: this key rides with part 0 for this attempt.
			return 0
		}
		parts = append(parts, part{ep: e, key: slices.Clone(key)})
		return len(parts) - 1
	}
	emit := func(i int, body []byte, items int) error {
		parts[i].body, parts[i].items = body, items
		return nil
	}
	if err := otlpwire.Partition(b.Signal, b.Body, n, keyOf, emit); err != nil {
		// Not expected (receivers validate); let the destination judge the batch whole.
		r.log.Debug("cannot partition a batch by trace id; sending it whole", "error", err)
		return r.do(ctx, nil, b)
	}
	sending := parts[:0]
	for _, p := range parts {
		if p.items > 0 || len(p.body) > 0 {
			sending = append(sending, p)
		}
	}
	switch len(sending) {
	case 0:
		return r.do(ctx, nil, b) // no item at all: forward as is
	case 1:
		return r.do(ctx, sending[0].key, pipeline.Batch{Signal: b.Signal, Body: sending[0].body, Items: sending[0].items})
	}
	var wg sync.WaitGroup
	for i := range sending {
		p := &sending[i]
		wg.Go(func() {
			p.err = r.do(ctx, p.key, pipeline.Batch{Signal: b.Signal, Body: p.body, Items: p.items})
		})
	}
	wg.Wait()
	return combine(sending)
}

// combine turns the outcomes of the parts into the attempt's: a retryable failure of any part
// fails the attempt (the sender sends the whole batch again: the parts already delivered are
// delivered twice, at least once holds); otherwise permanent failures and partial successes
// add up to a partial success, and only if every part failed for good is the error permanent.
func combine(parts []part) error {
	var retryable, permanent []error
	rejected, failedParts := 0, 0
	var msgs []string
	for _, p := range parts {
		var ps *sender.PartialSuccess
		switch {
		case p.err == nil:
		case errors.As(p.err, &ps):
			rejected += ps.Rejected
			msgs = append(msgs, ps.Message)
		case resilience.IsPermanent(p.err):
			permanent = append(permanent, p.err)
			rejected += p.items
			failedParts++
			msgs = append(msgs, p.err.Error())
		default:
			retryable = append(retryable, p.err)
		}
	}
	switch {
	case len(retryable) > 0:
		return errors.Join(retryable...)
	case failedParts == len(parts):
		return errors.Join(permanent...)
	case rejected > 0:
		return &sender.PartialSuccess{Rejected: rejected, Message: strings.Join(msgs, "; ")}
	}
	return nil
}
