# otlp: build, test and benchmark entry points. `make test` is what CI runs.
GO        ?= go
TOOLS     := $(CURDIR)/.tools/bin
# Fuzz budget per target in executions, not seconds: Go 1.26's fuzz coordinator can fail a run
# with a bare "context deadline exceeded" when a wall-clock -fuzztime ends (golang/go#75804,
# fixed in Go 1.27); a count has no deadline to race. 10000x is a few seconds per target here;
# run longer by hand with e.g. FUZZTIME=10m.
FUZZTIME  ?= 10000x
export PATH := $(TOOLS):$(PATH)

# Fuzz targets run briefly by `make test` (package:Target).
FUZZ_TARGETS := \
	./internal/otlpwire:FuzzTraces \
	./internal/otlpwire:FuzzMetrics \
	./internal/otlpwire:FuzzLogs \
	./internal/otlpwire:FuzzPlainKeyValue \
	./internal/otlpwire:FuzzViewTraces \
	./internal/otlpwire:FuzzViewMetrics \
	./internal/otlpwire:FuzzViewLogs \
	./internal/receiver:FuzzHTTPTraces \
	./internal/receiver:FuzzHTTPMetrics \
	./internal/receiver:FuzzHTTPLogs \
	./internal/receiver:FuzzGRPCTraces \
	./internal/receiver:FuzzGRPCMetrics \
	./internal/receiver:FuzzGRPCLogs \
	./internal/exporter/otlpmsg:FuzzDecode \
	./internal/queue:FuzzOpen \
	./internal/lb:FuzzParseEndpoints \
	./internal/ottl:FuzzParse \
	./internal/processor/probsampler:FuzzTraceState \
	./resilience:FuzzFromHTTPResponse

.PHONY: all build run test unit vet check-deadcode fuzz-short tools bench-collector bench-resilience clean chaos

all: build

# Release builds: static (no libc mapped), as the OpenTelemetry Collector ships, and with gRPC's
# grpcnotrace tag: without it gRPC imports golang.org/x/net/trace, whose html/template calls
# reflect.Value.Method, and the linker then keeps every exported method of every type (3 MB more
# text, most of it mapped resident). check-deadcode keeps it that way.
RELEASE_TAGS ?= grpcnotrace
build:
	CGO_ENABLED=0 $(GO) build -tags $(RELEASE_TAGS) -o bin/ ./cmd/...

run:
	$(GO) run ./cmd/otlp-server

## test: everything CI checks: vet, the race-enabled test suite, and short fuzz runs.
test: tools vet unit chaos fuzz-short

vet: check-deadcode
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

## check-deadcode: the release binaries link nothing that turns off the linker's method pruning
## (text/template and html/template, via reflect.Value.Method); fails naming the importer.
check-deadcode:
	@bad=$$($(GO) list -tags $(RELEASE_TAGS) -f '{{.ImportPath}} {{join .Imports " "}}' -deps ./cmd/otlp-server ./cmd/otlp-agent | \
		awk '{for(i=2;i<=NF;i++) if($$i=="text/template"||$$i=="html/template") print $$1 " imports " $$i}' | sort -u); \
	if [ -n "$$bad" ]; then echo "release build links a template package (disables dead code elimination):"; echo "$$bad"; exit 1; fi

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

fuzz-short:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg; \
	done

## tools: what the end-to-end tests run beside otlp: the load generator (telemetrygen) and the
## OpenTelemetry Collector with the contrib components test/compare checks ours against
## (otelcol-components, built once from bench/components/manifest.yaml, a few minutes). Absent
## tools make those tests skip locally and fail in CI (CI=true).
OTELCOL_BUILDER ?= v0.162.0
tools:
	@mkdir -p $(TOOLS) bin bench/out
	@test -x $(TOOLS)/telemetrygen || GOBIN=$(TOOLS) $(GO) install github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v0.161.0 \
		|| { echo "telemetrygen could not be installed"; test "$$CI" != true; }
	@test -x $(TOOLS)/otelcol-components || { echo "building otelcol-components with the Collector builder (log: bin/builder.log)"; \
		GOBIN=$(TOOLS) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OTELCOL_BUILDER) && \
		$(TOOLS)/builder --config=bench/components/manifest.yaml > bin/builder.log 2>&1 && \
		cp bench/out/otelcol-components/otelcol-components $(TOOLS)/; } \
		|| { tail -20 bin/builder.log; echo "otelcol-components could not be built"; test "$$CI" != true; }

## chaos: the process-level fault test of the agent (collector stopped, agent and collector
## kill -9, blackholed collector), about a minute; part of `make test`. It prints the result of
## each queue mode and ends with `chaos sent=<n> delivered=<n> lost=<n> duplicates=<n>`; the whole
## log is in bin/chaos.log, and printed when the test fails.
chaos:
	@mkdir -p bin
	@echo "chaos: agent with two collectors under faults (log: bin/chaos.log)"
	@$(GO) test -tags chaos -run TestChaos -v -count=1 -timeout 10m ./test/chaos > bin/chaos.log 2>&1; rc=$$?; \
		if [ $$rc -ne 0 ]; then cat bin/chaos.log; fi; \
		grep -E 'queue=[a-z]+: chaos sent=' bin/chaos.log | sed 's/^ *chaos_test.go:[0-9]*: /chaos /'; \
		grep '^chaos sent=' bin/chaos.log | tail -n 1; exit $$rc

bench-collector:
	bash bench/collector.sh

bench-resilience:
	bash bench/resilience.sh

clean:
	rm -rf bin .tools bench/out
