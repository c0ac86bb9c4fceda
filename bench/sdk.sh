#!/usr/bin/env bash
# The Go SDK (package otlp) against the official OpenTelemetry Go SDK, twice: at its defaults
# (BatchSpanProcessor and otlptracegrpc: drops when its 2048-span queue is full, 512-span
# requests, 5s batch timeout) and set up like ours (WithBlocking, an 8192-span queue, 2048-span
# requests, 1s batch timeout; "official-like"). All export to the same local OTLP/gRPC sink
# without compression; the sink runs as a child process as a local collector does (its garbage
# and GC stay out of the application's heap; its CPU time is counted with the application's): the application's cost of one span
# (start + 4 attributes + end, background export included; medians of 11 interleaved rounds,
# rotating which SDK goes first), the CPU time per span at a paced rate neither SDK drops
# at, and, when one goroutine makes 200k spans at full speed, the spans each loses and the
# spans per second each delivers (making and flushing at shutdown included).
# First, the size of a hello-world binary (one span, then shutdown) on each SDK, built with the
# same toolchain and flags (bench/sdk/hello/ours and official; the official one sets up the
# three providers with their OTLP/gRPC exporters, as the otlp package does), plain and stripped.
# Profiling: go run ./bench/sdk -only ours -cpuprofile cpu.out (or -memprofile, -trace).
# Ends with:
# ratio sdk ns_per_span=<ours/theirs> allocs_per_span=<ours/theirs> dropped_official=<n> dropped_ours=<n> unreported_ours=<n>
# ratio sdk-like-for-like ns_per_span=<ours/theirs> allocs_per_span=<ours/theirs> dropped_official=<n> dropped_ours=<n>
# (the first against the official defaults, the second against official-like.)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for flags in "" "-s -w"; do
	go build -ldflags="$flags" -o "$tmp/ours" ./bench/sdk/hello/ours
	go build -ldflags="$flags" -o "$tmp/official" ./bench/sdk/hello/official
	o=$(stat -c %s "$tmp/ours") t=$(stat -c %s "$tmp/official")
	echo "size hello-world ldflags=\"$flags\": ours=$o official=$t ratio=$(awk -v o="$o" -v t="$t" 'BEGIN{printf "%.2f", o/t}')"
done
go run ./bench/sdk "$@"
