// Package lb spreads calls over a changing set of collector endpoints.
//
// A Balancer holds the current endpoints as an immutable snapshot behind an atomic pointer, so
// that picking one takes no lock. Do picks an endpoint with a Policy (round_robin,
// weighted_round_robin, least_inflight, consistent_hash), calls it, records the outcome in the
// endpoint's passive health and circuit breaker, and on a retryable failure fails over to the
// next healthy endpoint, trying each endpoint at most once. When no endpoint is healthy it
// fails open: the unhealthy ones are still tried, least recently failed first.
//
// Endpoints come from a static list, DNS (A/AAAA or SRV, re-resolved) or a watched file. An
// update keeps the Endpoint, and so its health state, of every address that remains. Routing
// happens when a call is made, never when data is queued: a caller's queue does not depend on
// the endpoint set, so a changing set cannot lose queued data.
package lb
