// Package chaos is the process-level fault test of the agent: a client sends known span ids
// through otlp-agent to two otlp-server collectors while a collector is stopped and restarted,
// the agent is killed with SIGKILL and restarted on its disk queue, a collector is killed with
// SIGKILL and restarted, and a collector is blackholed behind a TCP proxy. Every span id the agent acknowledged must reach a collector,
// and duplicates (at-least-once delivery repeats what was in flight at a fault) must stay
// under 2% of what was sent.
//
// The test needs the chaos build tag, so `go test ./...` skips it; `make test` runs a short
// form (chaos-short) and `make chaos` the full one; both print the result line:
// chaos sent=<n> delivered=<n> lost=<n> duplicates=<n>. A configuration the scenario needs that
// the agent rejects fails the test.
//
// Knobs, all optional: CHAOS_REQUESTS (2000), CHAOS_SPANS per request (50), CHAOS_RATE in
// requests per second (100), CHAOS_FSYNC (always,interval), CHAOS_SKIP (any of stop, kill,
// kill-collector, blackhole), CHAOS_LOGS=1 to print the processes' logs even when the test passes.
package chaos
