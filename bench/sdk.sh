#!/usr/bin/env bash
# The Go SDK (package otlp) against the official OpenTelemetry Go SDK (BatchSpanProcessor and
# otlptracegrpc with their defaults), both exporting to the same local OTLP/gRPC sink, run as a
# child process as a local collector is (its garbage and GC stay out of the application's heap;
# its CPU time is counted with the application's): the application's cost of one span
# (start + 4 attributes + end, background export included; medians of 11 interleaved rounds,
# alternating which SDK goes first), the CPU time per span at a paced rate neither SDK drops
# at, and, when one goroutine makes 200k spans at full speed, the spans each loses and the
# spans per second each delivers (making and flushing at shutdown included).
# Profiling: go run ./bench/sdk -only ours -cpuprofile cpu.out (or -memprofile, -trace).
# Ends with:
# ratio sdk ns_per_span=<ours/theirs> allocs_per_span=<ours/theirs> dropped_official=<n> dropped_ours=<n> unreported_ours=<n>
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./bench/sdk "$@"
