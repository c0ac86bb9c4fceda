// Package chaos is the process-level fault test of the agent: a client sends known span ids
// through otlp-agent to two otlp-server collectors while a collector is stopped and restarted,
// the agent is killed with SIGKILL and restarted on its queue, and a collector is blackholed
// behind a TCP proxy. Every span id the agent acknowledged must reach a collector.
//
// The test needs the chaos build tag, so `go test ./...` skips it; `make chaos` runs it and
// prints its result line: chaos sent=<n> delivered=<n> lost=<n> duplicates=<n>.
package chaos
