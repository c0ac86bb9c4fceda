#!/usr/bin/env bash
# Benchmarks the resilience package against sony/gobreaker and failsafe-go guarding the same
# call in the same run (bench/resilience), then prints the medians of 5 runs as two lines:
#   ratio breaker ns_per_op=<ours> allocs=<n> vs_gobreaker=<ours/theirs> vs_failsafe=<ours/theirs>
#   ratio composed ns_per_op=<ours> allocs=<n> vs_failsafe=<ours/theirs>
# Ratios below 1 mean ours is faster. Run from the repository root, without arguments.
set -euo pipefail

cd "$(dirname "$0")/.."
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

go test -run '^$' -bench '^Benchmark(Breaker|Composed)$' -benchmem -count 5 ./bench/resilience | tee "$out"

awk '
function median(list,    a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	if (n % 2) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
/^Benchmark/ && / ns\/op/ {
	name = $1
	sub(/-[0-9]+$/, "", name)
	for (i = 2; i < NF; i++) {
		if ($(i + 1) == "ns/op") ns[name] = ns[name] " " $i
		if ($(i + 1) == "allocs/op") allocs[name] = allocs[name] " " $i
	}
}
END {
	bo = median(ns["BenchmarkBreaker/impl=ours"])
	bg = median(ns["BenchmarkBreaker/impl=gobreaker"])
	bf = median(ns["BenchmarkBreaker/impl=failsafe"])
	co = median(ns["BenchmarkComposed/impl=ours"])
	cf = median(ns["BenchmarkComposed/impl=failsafe"])
	if (bo == "" || bg == "" || bf == "" || co == "" || cf == "") {
		print "bench/resilience.sh: missing benchmark results" > "/dev/stderr"
		exit 1
	}
	printf "ratio breaker ns_per_op=%.2f allocs=%d vs_gobreaker=%.3f vs_failsafe=%.3f\n", bo, median(allocs["BenchmarkBreaker/impl=ours"]), bo / bg, bo / bf
	printf "ratio composed ns_per_op=%.2f allocs=%d vs_failsafe=%.3f\n", co, median(allocs["BenchmarkComposed/impl=ours"]), co / cf
}' "$out"
