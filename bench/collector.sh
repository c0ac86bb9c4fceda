#!/usr/bin/env bash
# bench/collector.sh: our otlp-server against the OpenTelemetry Collector under the same
# telemetrygen load, one after the other, in five shapes, three rounds each (alternating which
# collector goes first; the ratios compare each side's median, and lost sums every round):
#   nop            otlp in -> batch -> nop
#   otlp           otlp in -> batch -> otlp/gRPC out (no compression) to a sink
#   otlp-attrs10   as otlp, with 10 attributes per span
#   processors     otlp in -> resource -> attributes (3 actions) -> filter -> batch -> otlp out,
#                  10 attributes per span (the Collector built with the contrib processors,
#                  bench/components/manifest.yaml, v0.161.0)
#   tail-sampling  otlp in -> tail_sampling (errors, latency, 10% probabilistic, 5s decision
#                  wait) -> batch -> otlp out
# It prints a table, then one line per shape (ours/theirs):
#   ratio <shape> spans_per_cpu=<x.xx> peak_rss=<x.xx> lost=<our lost spans>
#   ratio tail-sampling spans_per_cpu=<x.xx> peak_rss=<x.xx> kept_diff=<our kept - their kept>
# (tail-sampling counts spans per CPU-second over the spans sent; kept_diff sums the rounds).
#
# No arguments needed: it installs what it needs into bench/out (cached; delete bench/out to
# start over). Optional environment:
#   BENCH_SPANS=3000000          spans per run
#   BENCH_SPANS_ATTRS10=0        spans per otlp-attrs10 run (0: a third of BENCH_SPANS)
#   BENCH_SHAPES=nop,otlp,otlp-attrs10,processors,tail-sampling
#   BENCH_OURS=otlp              "otelcol" puts the Collector in both slots (checks the bench)
#   BENCH_ROUNDS=3               rounds per shape
#   BENCH_GOGC=100               the garbage collector target of both sides (Go's default, the
#                                Collector's); BENCH_GOGC= (empty) runs each at its own default
#                                (ours gc_percent = 50)
# Extra arguments are passed to the driver (bench/cmd/collectorbench -h lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh
RESULTS=$OUT/collector
mkdir -p "$RESULTS"

# 1. The Collector builder, a Collector built from bench/collector/manifest.yaml (core
# components) and one from bench/components/manifest.yaml (with the contrib processors).
install_otelcol bench/collector/manifest.yaml otelcol
OTELCOL_CORE=$OTELCOL
OTELCOL=$OUT/otelcol-components/otelcol-components
install_otelcol bench/components/manifest.yaml otelcol-components
OTELCOL_COMPONENTS=$OTELCOL
OTELCOL=$OTELCOL_CORE

# 2. telemetrygen.
install_telemetrygen

# 3. Ours, the sink and the driver (go build caches, so this is quick when nothing changed).
ours=${BENCH_OURS:-otlp}
go build -o "$BIN/otlpsink" ./bench/cmd/otlpsink
go build -o "$BIN/collectorbench" ./bench/cmd/collectorbench
if [[ $ours == otlp ]]; then
	build_ours
fi

# 4. Measure.
{
	echo "# bench/collector.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)')"
	echo "# GOGC=${BENCH_GOGC-100} for both sides (empty: each at its default)"
	echo "# $(go version) · $(nproc) cores · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "# $($OTELCOL --version 2>/dev/null) · $($OTELCOL_COMPONENTS --version 2>/dev/null) · telemetrygen $TELEMETRYGEN_VERSION"
	"$BIN/collectorbench" -ours "$ours" -otelcol-components "$OTELCOL_COMPONENTS" \
		-spans "${BENCH_SPANS:-3000000}" \
		-spans-attrs10 "${BENCH_SPANS_ATTRS10:-0}" \
		-shapes "${BENCH_SHAPES:-nop,otlp,otlp-attrs10,processors,tail-sampling}" \
		-rounds "${BENCH_ROUNDS:-3}" \
		-gogc "${BENCH_GOGC-100}" \
		-out "$RESULTS" "$@"
} 2>&1 | tee "$RESULTS/output.txt"
