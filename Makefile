# legacy-auth — build, run and test.
#   make run    build and start the local gateway demo on 127.0.0.1:8000
#               (with the Rails demo app when Ruby and Rails are installed)
#   make test   gofmt check, go vet, staticcheck, every test with the race detector, the Node
#               example tests, the Rails engine's tests, a bench smoke run
#   make test-stress  the whole suite 5 times under -race while every core is busy
#   make bench  benchmarks; writes docs/benchmarks.md
#   make docs   regenerate README.md's configuration tables from plugin/schema.go

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/legacy-auth/legacy-auth/plugin.Version=$(VERSION)
BIN      := bin

.PHONY: all build run docs test oidc-provider test-stress test-examples test-rails bench-smoke fmt-check vet staticcheck bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/legacy-auth ./cmd/legacy-auth
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/legacy-gateway ./cmd/legacy-gateway

# The auth service is the Rails demo app (examples/rails) when Ruby with
# Rails is installed, else the gateway's Go stand-in (same users, tokens).
run: build
	@if examples/rails/run-demo --check; then rails="-demo-rails examples/rails/run-demo"; \
	else echo "make run: Ruby with Rails not installed: using the Go stand-in for Rails"; rails=; fi; \
	exec $(BIN)/legacy-gateway -demo -config examples/demo/kong.yml -plugin $(BIN)/legacy-auth $$rails

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# staticcheck's version is pinned by the tool directive in go.mod.
staticcheck:
	$(GO) tool staticcheck ./...

test: fmt-check vet staticcheck test-examples bench-smoke oidc-provider
	$(GO) test -race -count=1 -timeout 15m ./...

# The real OpenID provider the provider-token tests start (test/oidctest):
# node's oidc-provider, pinned by test/oidc/package-lock.json.
oidc-provider:
	cd test/oidc && npm ci --no-audit --no-fund --loglevel=error

# The suite on a machine as loaded as a busy CI runner: one busy loop per
# core runs for the whole go test (killed on exit, even on failure), so a
# test that leans on timing fails here rather than once a month in CI.
test-stress:
	@hogs=""; for i in $$(seq $$(nproc)); do (while :; do :; done) & hogs="$$hogs $$!"; done; \
	trap 'kill $$hogs 2>/dev/null' EXIT INT TERM; \
	$(GO) test -race -count=5 -p 2 -timeout 60m ./...

# The benchmark program, run once for a moment so it keeps working; make
# bench measures for real.
bench-smoke:
	$(GO) run ./test/bench -quick -out $$(mktemp -d)/benchmarks.md > /dev/null 2>&1 || \
	  { echo "bench smoke run failed: go run ./test/bench -quick"; exit 1; }

# The downstream examples that can run here: the Fastify identity plugin
# with node's built-in test runner, and the Rails engine.
test-examples: test-rails
	cd examples/downstream/fastify && npm ci --no-audit --no-fund --loglevel=error && npm test

# The Rails engine's minitest suite in real Rails (Debian: ruby-rails
# ruby-sqlite3 ruby-redis); skipped without them, except in CI.
test-rails:
	@if examples/rails/run-demo --check; then examples/rails/test/run; \
	elif [ "$$CI" = true ]; then echo "test-rails: Ruby with Rails and sqlite3 is required in CI"; exit 1; \
	else echo "test-rails: SKIPPED: Ruby with Rails and sqlite3 not installed (apt-get install ruby-rails ruby-sqlite3 ruby-redis)"; fi

bench:
	$(GO) run ./test/bench -out docs/benchmarks.md

# README.md's configuration tables come from the schema (internal/configdoc).
docs:
	$(GO) test ./internal/configdoc -run TestREADMEConfigTable -count=1 -update

clean:
	rm -rf $(BIN)
