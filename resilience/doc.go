// Package resilience keeps calls to unreliable dependencies from failing the caller, or
// from making an outage worse.
//
// Policies, each usable alone or in an Executor:
//   - Retry: exponential backoff with jitter, bounded by attempts and elapsed time, honouring
//     Permanent and Throttled errors, with a retry budget shared by every caller.
//   - Breaker: a closed / open / half-open circuit breaker over consecutive failures or
//     failure and slow-call rates in a count or time sliding window, with a bounded number of
//     trial calls, each with a deadline.
//   - Timeout: a context deadline per call, with nothing left running behind the caller.
//   - Bulkhead: a bound on concurrent calls, with a bounded wait for a slot.
//   - RateLimiter: a token bucket.
//   - Fallback: a cached value, a backup, a reduced-quality variant or skipping the step,
//     on failure, on rejection, or while a Degrader sees high error rate, latency or resource
//     use.
//
// An Executor runs func(ctx) (T, error) under an ordered list of these; a Manager builds
// named executors from Config (TOML). Errors are classified (Error, Kind, FromGRPCStatus,
// FromHTTPResponse) so that retries, breakers and fallbacks agree on what a failure is.
// Counters are kept in atomics and exposed by Metrics and RegisterOTelMetrics; notable events
// go to an Observer. A HealthChecker aggregates named checks for readiness.
//
// Every policy takes a Clock (WithClock), so tests run on a fake clock
// (resiliencetest.FakeClock) or in a testing/synctest bubble and never sleep.
package resilience
