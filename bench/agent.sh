#!/usr/bin/env bash
# bench/agent.sh: our otlp-agent's durable path against the OpenTelemetry Collector's persistent
# sending queue (file_storage extension), under the same telemetrygen load, one after the other,
# each topology against its twin:
#   agent-durable   otlp in -> disk queue, fsync per request -> batches merged from the queue
#                   (sending_queue.batch, 8192 spans or 200ms) -> otlp/gRPC out to a sink;
#                   the Collector the same way: file_storage fsync: true, sending_queue.batch
#   agent-interval  as agent-durable, ours at fsync = "interval" (1s), the Collector at its
#                   default fsync: false
#   agent-durable-memack  a batch processor in front of the queue acknowledging from memory, on
#                   both sides (ours: ack_after_flush = false): the Collector's usual topology
#   agent-loss      the sink down while spans are sent and for BENCH_OUTAGE after; the
#                   Collector at its defaults (retries for 5 minutes, then drops), ours at its
#                   defaults (a disk queue retries until delivered); what did not arrive is lost
#   agent-loss-unbounded  the same outage, the Collector with retry_on_failure
#                   max_elapsed_time: 0 (never give up)
# The throughput shapes run 3 rounds (alternating which side goes first) and compare medians;
# the loss scenarios run once. The default outage (25s after the load) is shorter than the
# Collector's default retry window, so at its defaults it has no reason to lose anything; the
# long mode, BENCH_OUTAGE=6m, outlasts the window (about 15 minutes more).
# It prints a table of every run, the verdicts, then (ours/theirs):
#   ratio agent-interval spans_per_cpu=<x.xx> peak_rss=<x.xx> lost=<our lost spans>
#   ratio agent-durable-memack spans_per_cpu=<x.xx> peak_rss=<x.xx> lost=<our lost spans>
#   ratio agent-durable spans_per_cpu=<x.xx> peak_rss=<x.xx> lost=<our lost spans, loss scenarios included>
#   loss outage_s=<sink down, s> collector_default_lost=<n> collector_unbounded_lost=<n> ours_lost=<n>
# (-1 for a loss scenario left out of BENCH_SHAPES.) What the shape leaves out: one signal
# (traces), one sender, loopback, a sink that counts spans without decoding them.
#
# No arguments needed: it installs what it needs into bench/out (cached, shared with
# bench/collector.sh; delete bench/out to start over). Optional environment:
#   BENCH_SPANS=300000           spans per throughput run
#   BENCH_LOSS_SPANS=20000       spans sent while the sink is down
#   BENCH_OUTAGE=25s             how long the sink stays down after the load ended (6m: long mode)
#   BENCH_ROUNDS=3               rounds of each throughput shape
#   BENCH_SHAPES=agent-durable,agent-interval,agent-durable-memack,agent-loss,agent-loss-unbounded
#   BENCH_GOGC=100               the garbage collector target of both sides (Go's default, the
#                                Collector's); BENCH_GOGC= (empty) runs each at its own default
#                                (ours gc_percent = 50)
# Extra arguments are passed to the driver (bench/cmd/collectorbench -h lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh
RESULTS=$OUT/agent
OTELCOL=$OUT/otelcol-agentbench/otelcol-agentbench
mkdir -p "$RESULTS"

# 1. The Collector builder and a Collector with file_storage built from bench/agent/manifest.yaml.
install_otelcol bench/agent/manifest.yaml otelcol-agent

# 2. telemetrygen.
install_telemetrygen

# 3. Ours, the sink and the driver (go build caches, so this is quick when nothing changed).
go build -o "$BIN/otlpsink" ./bench/cmd/otlpsink
go build -o "$BIN/collectorbench" ./bench/cmd/collectorbench
# Built as a release is (make build): static, CGO_ENABLED=0 (as the Collector's builder
# builds it), and -tags grpcnotrace (see the Makefile).
CGO_ENABLED=0 go build -tags grpcnotrace -o "$BIN/otlp-agent" ./cmd/otlp-agent

# 4. Measure.
{
	echo "# bench/agent.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)')"
	echo "# GOGC=${BENCH_GOGC-100} for both sides (empty: each at its default)"
	echo "# $(go version) · $(nproc) cores · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "# $($OTELCOL --version 2>/dev/null) · telemetrygen $TELEMETRYGEN_VERSION · queues on $(df -T "$RESULTS" | awk 'NR==2{print $2}')"
	"$BIN/collectorbench" -suite agent -otelcol "$OTELCOL" \
		-spans "${BENCH_SPANS:-300000}" \
		-loss-spans "${BENCH_LOSS_SPANS:-20000}" \
		-outage "${BENCH_OUTAGE:-25s}" \
		-rounds "${BENCH_ROUNDS:-3}" \
		-gogc "${BENCH_GOGC-100}" \
		-shapes "${BENCH_SHAPES:-agent-durable,agent-interval,agent-durable-memack,agent-loss,agent-loss-unbounded}" \
		-configs bench/agent -out "$RESULTS" "$@"
} 2>&1 | tee "$RESULTS/output.txt"
