#!/usr/bin/env bash
# bench/amplify.sh: what amplifying requests cost our otlp-server and the OpenTelemetry
# Collector. Each request is a 15 MB OTLP/HTTP export whose spans each sit in their own resource
# envelope (the layout every stage that walks or splits a request pays for), sent alone and
# eight at once, as protobuf and as JSON, to a fresh process per run running
# memory_limiter (limit_mib 512, spike_limit_mib 102) -> batch -> nop on both sides
# (bench/amplify/). Both are probed the same way, by a TCP connect to the receiver; both run at
# GOGC=100 (BENCH_GOGC= runs each at its own default). Three rounds, alternating which goes
# first; medians.
# It prints a table, then one line per case (ours/theirs):
#   ratio amplify-<format>-c<n> peak_rss=<x.xx> cpu=<x.xx> accepted_ours=<n> accepted_theirs=<n> of=<n>
# A request either side refuses with 429/503 is kept by its sender, which retries: accepted
# counts are reported, not judged.
# No arguments needed: it builds what it needs into bench/out (cached).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

install_otelcol bench/collector/manifest.yaml otelcol
go build -o "$BIN/collectorbench" ./bench/cmd/collectorbench
build_ours

echo "# bench/amplify.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)')"
echo "# GOGC=${BENCH_GOGC-100} for both sides (empty: each at its default)"
echo "# $(go version) · $(nproc) cores · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "# $($OTELCOL --version 2>/dev/null)"
"$BIN/collectorbench" -suite amplify -otelcol "$OTELCOL" -otlp-server "$BIN/otlp-server" \
	-gogc "${BENCH_GOGC-100}" -rounds "${BENCH_ROUNDS:-3}" "$@"
