# incident-mcp — run `make help` for the targets.
GO      ?= go
BIN     := bin/incident-mcp
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOLANGCI_LINT_VERSION := v2.15.0
# golangci-lint is installed once into bin/ (a cached binary, not `go run`,
# which rebuilds it per call and races a second run for its lock).
GOLANGCI_LINT := bin/golangci-lint-$(GOLANGCI_LINT_VERSION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/incident-mcp
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/incident-mcp

.PHONY: build-sim
build-sim: ## build bin/incident-sim, the three vendor simulators as one process
	$(GO) build -trimpath -o bin/incident-sim ./cmd/incident-sim

# Ports of make sim; 0 is any free port (the printed export lines say which).
SIM_ESET_PORT      ?= 0
SIM_KASPERSKY_PORT ?= 0
SIM_DLP_PORT       ?= 0
SIM_ADMIN_PORT     ?= 0
SIM_ENV_FILE       ?= bin/sim.env

.PHONY: sim
sim: build-sim ## serve the vendor simulators on loopback (free ports unless SIM_ESET_PORT=… etc.; prints export lines, also in bin/sim.env)
	./bin/incident-sim -eset-addr 127.0.0.1:$(SIM_ESET_PORT) -kaspersky-addr 127.0.0.1:$(SIM_KASPERSKY_PORT) \
		-dlp-addr 127.0.0.1:$(SIM_DLP_PORT) -admin-addr 127.0.0.1:$(SIM_ADMIN_PORT) -env-file $(SIM_ENV_FILE)

.PHONY: demo
demo: build ## serve the demo over stdio (three vendor simulators, no credentials)
	./$(BIN) --demo

.PHONY: test
test: lint test-go test-clients ## the README's test command: lint, Go tests with -race, third-party clients (CI then runs test-replicas and chaos)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go vet, golangci-lint (pinned; depguard layering, sloglint, staticcheck, errorlint, usetesting, gosec) and go mod tidy -diff
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run --allow-parallel-runners ./...
	$(GO) mod tidy -diff

$(GOLANGCI_LINT):
	@mkdir -p bin
	GOBIN=$(CURDIR)/bin/.golangci $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv bin/.golangci/golangci-lint $@ && rmdir bin/.golangci

.PHONY: test-go
test-go: ## Go unit, conformance, equivalence and end-to-end tests, with the race detector
	$(GO) test -race -count=1 -timeout 20m ./...

.PHONY: test-replicas
test-replicas: ## three replicas on one Redis and incident-sim: long ESET and DLP scans stay within the vendor limits (~3 min)
	INCIDENT_MCP_LONG_TESTS=1 $(GO) test -count=1 -v -run 'TestVendorLimitsAcrossReplicas' ./test/replicas

.PHONY: bench-replicas
bench-replicas: ## 1, 2 and 3 replicas sharing ESET's 10/s: calls per second and the vendor's observed rate
	$(GO) test -run '^$$' -bench Replicas -benchtime 60x ./test/replicas

.PHONY: test-short
test-short: ## fast Go tests, no race detector, no binary builds
	$(GO) test -short ./...

.PHONY: test-clients
test-clients: build ## drive the binary with third-party MCP clients from npm
	test/clients/inspector.sh $(BIN)
	cd test/clients && node elicitation.mjs ../../$(BIN)

.PHONY: chaos
chaos: ## fault injection: 20 % faults before every simulator; reads and confirmed writes, in-process and the built binary over HTTP (about 2 min)
	$(GO) test -tags chaos -count=1 -v -run Chaos ./test/chaos

.PHONY: evals
evals: ## analyst scenarios, token budget and documentation examples against the demo (prints the tables)
	$(GO) test -count=1 -v -run 'TestScenarios|TestTokenBudget|TestDocExamples' ./evals | grep -v '^=== RUN\|^    --- PASS'

.PHONY: evals-baseline
evals-baseline: ## rewrite the token baseline after an intended change (commit it with the change)
	$(GO) test -count=1 -run TestTokenBudget ./evals -update-baseline

.PHONY: evals-live
evals-live: ## give a real model (ANTHROPIC_API_KEY) the tools and scenarios; transcripts in evals/transcripts/
	$(GO) test -count=1 -v -timeout 30m -run TestLiveModel ./evals -live

.PHONY: golden
golden: ## rewrite golden files (tools/list snapshot, README tools table) after an intended change
	$(GO) test ./tools -run 'Golden|README' -update

.PHONY: bench
bench: ## benchmarks: filter compile and check, decode+normalize, one list call (prints ns/op, allocs/op)
	$(GO) test -run '^$$' -bench . -benchmem ./filter ./vendors/... ./tools

.PHONY: fuzz
fuzz: ## fuzz the filter compiler and the ESET literal escaping (FUZZTIME=1m each)
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime $${FUZZTIME:-1m} ./filter
	$(GO) test -run '^$$' -fuzz FuzzStringLit -fuzztime $${FUZZTIME:-1m} ./vendors/eset

.PHONY: release
release: ## release archives in dist/: linux, darwin, windows × amd64, arm64, with SHA256SUMS and an SBOM each (VERSION=v1.2.3)
	scripts/release.sh $(VERSION)

.PHONY: release-check
release-check: ## what CI runs of the release: one cross-compiled archive (windows/arm64), its checksum and SBOM verified
	scripts/release.sh $(VERSION) windows/arm64
	cd dist && sha256sum -c SHA256SUMS && grep -qE '^\s+dep\s+github.com/mark3labs/mcp-go' *.sbom.txt

.PHONY: clean
clean: ## remove build output
	rm -rf bin dist

.PHONY: bench-load
bench-load: build ## the built server beside the floor (plain mcp-go, same answer) over streamable HTTP, in rounds: CPU/call and ratio, calls/s, allocs/call, 1-client latency vs direct (BENCHTIME=3s ROUNDS=3)
	$(GO) build -o bin/bench-load ./cmd/bench-load
	./bin/bench-load -server $(BIN) -duration $${BENCHTIME:-3s} -rounds $${ROUNDS:-3}

.PHONY: profile-load
profile-load: ## CPU profiles of the server under bench-load with 16 clients: bin/profile-<vendor>.pprof (go tool pprof -top bin/incident-mcp-pprof bin/profile-eset.pprof)
	$(GO) build -tags pprof -o bin/incident-mcp-pprof ./cmd/incident-mcp
	$(GO) build -o bin/bench-load ./cmd/bench-load
	./bin/bench-load -server bin/incident-mcp-pprof -clients 16 -rounds 1 -duration $${BENCHTIME:-5s} -cpuprofile bin/profile
