# Waybill's one Makefile. `make` lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --warn-undefined-variables

BIN        := bin/waybill
GO_TEST    ?= go test -race -count=1 -timeout 15m
BENCH_ARGS ?= -run '^$$' -bench . -benchtime 3s -count 3

.PHONY: help
help: ## Show this help.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the waybill binary into bin/.
	go build -o $(BIN) ./cmd/waybill

.PHONY: run
run: deps build ## Run the whole local mesh (the services and the gateway) with a throwaway PostgreSQL and a demo day of data.
	$(BIN) up --demo

.PHONY: test
test: deps lint ## Run every check and test (PostgreSQL is started by the tests themselves).
	$(GO_TEST) ./... ./tools/openapi
	@echo "make test: all checks and tests passed"

.PHONY: lint
lint: generate-check ## gofmt, go vet, buf lint and buf breaking, the OpenAPI linters, the Kubernetes manifests, and build every module on its own.
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); echo "gofmt needed"; exit 1; }
	go vet ./... ./tools/openapi
	go tool buf lint
	scripts/buf-breaking.sh
	scripts/openapi-lint.sh
	scripts/deploy-check.sh
	GOWORK=off go build ./...
	cd gen && GOWORK=off go build ./...

.PHONY: generate
generate: ## Regenerate gen/ (Go, gRPC, gateway, OpenAPI 3 and its /docs page) from proto/, the TypeScript SDK and the pages (web/dist).
	rm -rf gen/waybill gen/openapi/*.json gen/openapi/*.html
	go tool buf generate
	scripts/openapi-generate.sh gen
	cd gen && GOWORK=off go mod tidy
	scripts/web-generate.sh

.PHONY: generate-check
generate-check: ## Fail if gen/, the TypeScript SDK or web/dist differ from what `make generate` writes.
	scripts/generate-check.sh
	scripts/web-generate.sh --check

.PHONY: bench
bench: deps ## Run the benchmarks (results go to docs/benchmarks.md by hand, with the command).
	go test $(BENCH_ARGS) ./...

.PHONY: deps
deps: ## Make sure PostgreSQL server binaries, curl and jq are installed (with apt when root).
	@scripts/ensure-deps.sh
