SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Pinned tool versions. buf and golangci-lint are installed with `go install`
# into bin/ (buf cannot share a module with the protoc plugins); the plugins
# are `tool` directives of gen/go.mod, so they match the runtime gen/ uses.
BUF_VERSION           := v1.75.0
GOLANGCI_LINT_VERSION := v2.15.0

BIN      := $(CURDIR)/bin
MODULES  := . ./gen ./pkg
# Modules outside go.work: they require gen and pkg as another team's
# service does (TestOrdersExampleOutsideWorkspace builds them that way).
EXAMPLES := examples/orders
GO_TEST  ?= go test -race -count=1 -timeout 20m

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/.buf-$(BUF_VERSION):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@touch $@

$(BIN)/.golangci-lint-$(GOLANGCI_LINT_VERSION):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	@touch $@

$(BIN)/.plugins: gen/go.mod gen/go.sum
	@mkdir -p $(BIN)
	cd gen && GOBIN=$(BIN) go install tool
	@touch $@

.PHONY: tools
tools: $(BIN)/.buf-$(BUF_VERSION) $(BIN)/.golangci-lint-$(GOLANGCI_LINT_VERSION) $(BIN)/.plugins ## install the pinned tools into bin/

# gen/README.md: a link to the proto directory of the gen module; here the
# repository's own gen/.
LINK_GEN_PROTO = mkdir -p examples/orders/third_party && ln -sfn ../../../gen/proto examples/orders/third_party/gatehouse

.PHONY: gen
gen: $(BIN)/.buf-$(BUF_VERSION) $(BIN)/.plugins ## regenerate gen/ from proto/ (reproducible)
	$(BIN)/buf format --exit-code --diff
	$(BIN)/buf lint
	rm -rf gen/gatehouse gen/openapiv2 gen/proto/gatehouse
	$(BIN)/buf generate
	@# The published OpenAPI documents: the v2 one decorated with the auth
	@# rules, its OpenAPI 3.1 conversion with the OAuth endpoints, and the
	@# Go client oapi-codegen makes of it (internal/apiclient, for tests).
	go run ./scripts/openapigen
	@# The rule option ships with the Go module, so another team's protos can
	@# import it from the gen version they require (gen/README.md).
	mkdir -p gen/proto/gatehouse/auth/v1
	cp proto/gatehouse/auth/v1/auth.proto gen/proto/gatehouse/auth/v1/auth.proto
	@# examples/orders imports that copy as another team's protos would.
	$(LINK_GEN_PROTO)
	cd examples/orders && $(BIN)/buf format --exit-code --diff && $(BIN)/buf lint
	rm -rf examples/orders/gen
	cd examples/orders && PATH="$(BIN):$$PATH" $(BIN)/buf generate

.PHONY: gen-check
gen-check: gen ## fail if the committed generated code differs from `make gen`
	@git diff --exit-code -- gen proto examples/orders internal/apiclient || { echo "generated code is stale: run make gen and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- gen examples/orders internal/apiclient)" || { git status --porcelain -- gen examples/orders internal/apiclient; echo "untracked generated files: run make gen and commit"; exit 1; }

.PHONY: breaking
breaking: $(BIN)/.buf-$(BUF_VERSION) ## buf breaking against the previous commit
	@if git rev-parse -q --verify HEAD~1 >/dev/null && git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then \
		prev=$$(mktemp -d); trap 'rm -rf "$$prev"' EXIT; \
		git archive HEAD~1 buf.yaml proto | tar -x -C "$$prev"; \
		$(BIN)/buf breaking --against "$$prev"; \
		echo "buf breaking: no breaking change against HEAD~1"; \
	else echo "buf breaking: no previous contract to compare with"; fi

.PHONY: build
build: ## build bin/gatehouse
	go build -trimpath -o $(BIN)/gatehouse ./cmd/gatehouse

.PHONY: run
run: build ## run every service in one process (SQLite + embedded NATS under ./data)
	$(BIN)/gatehouse serve

.PHONY: test
test: ## run every test of every module, with the race detector
	$(GO_TEST) work

.PHONY: fuzz
fuzz: ## run every fuzz target, FUZZTIME each (default 20s)
	./scripts/fuzz.sh

.PHONY: lint
lint: $(BIN)/.buf-$(BUF_VERSION) $(BIN)/.golangci-lint-$(GOLANGCI_LINT_VERSION) ## gofmt, go vet, golangci-lint, buf lint/format, secret-comparison rule
	$(BIN)/buf lint
	$(BIN)/buf format --exit-code --diff
	@unformatted=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
		test -z "$$unformatted" || { echo "gofmt needed: $$unformatted"; exit 1; }
	go vet work
	for m in $(MODULES); do (cd $$m && $(BIN)/golangci-lint run ./...); done
	@# The examples are vetted and linted in a throwaway workspace that adds
	@# them to go.work's modules, against this tree's gen and pkg.
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		sed -E 's#(^|[[:space:]])\./#\1$(CURDIR)/#; s#^([[:space:]]+)\.$$#\1$(CURDIR)#' go.work > "$$tmp/go.work"; \
		for m in $(EXAMPLES); do GOWORK="$$tmp/go.work" go work use "$(CURDIR)/$$m"; done; \
		for m in $(EXAMPLES); do (cd $$m && GOWORK="$$tmp/go.work" go vet ./... && GOWORK="$$tmp/go.work" $(BIN)/golangci-lint run ./...); done
	$(LINK_GEN_PROTO)
	for m in $(EXAMPLES); do (cd $$m && $(BIN)/buf lint && $(BIN)/buf format --exit-code --diff); done
	./scripts/check-secret-compare.sh

.PHONY: tidy
tidy: ## go mod tidy in every module and example, against this tree's gen and pkg (scripts/tidy-outside.sh)
	for m in $(MODULES) $(EXAMPLES); do ./scripts/tidy-outside.sh $$m; done

.PHONY: bench-scale
bench-scale: ## load 10k/100k/1M clients, API keys and revocations into PostgreSQL and measure how Gatehouse grows (SCALE_SIZES, SCALE_DATABASE_URL; not in CI)
	go run ./cmd/gatehouse bench scale --sizes $${SCALE_SIZES:-10000,100000,1000000} $${SCALE_DATABASE_URL:+--database-url "$$SCALE_DATABASE_URL"}

.PHONY: soak
soak: ## soak the binary on PostgreSQL and NATS through an outage of each (SOAK_DURATION, default 60s)
	GATEHOUSE_SOAK_DURATION=$${SOAK_DURATION:-60s} go test -race -count=1 -run '^TestSoakUnderFaults$$' -v -timeout 15m ./cmd/gatehouse/

.PHONY: faults
faults: ## run the split topology under load while a NATS node, a token replica and PostgreSQL fail (FAULTS_DURATION, default 45s)
	GATEHOUSE_FAULTS_DURATION=$${FAULTS_DURATION:-45s} go test -race -count=1 -run '^TestSplitTopologyUnderFaults$$' -v -timeout 15m ./cmd/gatehouse/

.PHONY: local
local: build ## run the split topology as processes on loopback: 3 NATS nodes, the local PostgreSQL, every service (deploy/local)
	./deploy/local/run.sh

.PHONY: bench
bench: ## run every benchmark of the workspace (API keys, JWT validation, token issuance, signing keys)
	go test -run '^$$' -bench . -benchmem -count 1 work

.PHONY: bench-http
bench-http: ## Gatehouse's HTTP paths against bare handlers with wrk, in one run (BENCH_DURATION, default 10s; BENCH_ROUNDS, default 2)
	scripts/bench-http.sh $(or $(BENCH_DURATION),10s) $(or $(BENCH_ROUNDS),2)

.PHONY: ci
ci: gen-check lint breaking test ## what .ci/run runs, without starting services

.PHONY: clean
clean: ## remove bin/ (tools included)
	rm -rf $(BIN)
