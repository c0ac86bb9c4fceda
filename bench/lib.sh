# Sourced by the bench scripts: installs the OpenTelemetry Collector builder, builds the
# reference Collector from bench/collector/manifest.yaml and installs telemetrygen, all cached
# in bench/out (delete it to start over). Run from the repository root.

BUILDER_VERSION=v0.162.0 # newer collector modules need a module the proxy refuses
TELEMETRYGEN_VERSION=v0.161.0
OUT=bench/out
BIN=$OUT/bin
OTELCOL=$OUT/otelcol-bench/otelcol-bench # the agent bench sets its own before install_otelcol
mkdir -p "$BIN"
export GOBIN="$PWD/$BIN"

log() { printf '%s\n' "$*" >&2; }

# stamp NAME VALUE: true when bench/out holds NAME built from VALUE.
stamped() { [[ -f $OUT/.stamp-$1 && "$(cat "$OUT/.stamp-$1")" == "$2" ]]; }
stamp() { printf '%s' "$2" >"$OUT/.stamp-$1"; }

# install_otelcol MANIFEST STAMP: the Collector builder, and a Collector built from MANIFEST
# (its dist.output_path and dist.name give the binary's path).
install_otelcol() {
	local manifest=$1 name=$2 manifest_sum
	if ! stamped builder "$BUILDER_VERSION" || [[ ! -x $BIN/builder ]]; then
		log "installing builder $BUILDER_VERSION"
		go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
		stamp builder "$BUILDER_VERSION"
	fi
	manifest_sum=$(sha256sum "$manifest" | cut -d' ' -f1)
	if ! stamped "$name" "$BUILDER_VERSION $manifest_sum" || [[ ! -x $OTELCOL ]]; then
		log "building $(basename "$OTELCOL") with the builder (takes a minute or two)"
		"$BIN/builder" --config="$manifest" >"$OUT/builder-$name.log" 2>&1 ||
			{ tail -30 "$OUT/builder-$name.log" >&2; return 1; }
		stamp "$name" "$BUILDER_VERSION $manifest_sum"
	fi
}

# install_telemetrygen: the load generator.
install_telemetrygen() {
	if ! stamped telemetrygen "$TELEMETRYGEN_VERSION" || [[ ! -x $BIN/telemetrygen ]]; then
		log "installing telemetrygen $TELEMETRYGEN_VERSION"
		go install "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@$TELEMETRYGEN_VERSION"
		stamp telemetrygen "$TELEMETRYGEN_VERSION"
	fi
}

# build_ours: otlp-server as a release is built (make build): static, CGO_ENABLED=0 (as the
# Collector's builder builds it), and -tags grpcnotrace (see the Makefile).
build_ours() {
	CGO_ENABLED=0 go build -tags grpcnotrace -o "$BIN/otlp-server" ./cmd/otlp-server
}
