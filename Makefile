# troupe — common tasks. `make test` is the one command that runs every test.
GO ?= go

.PHONY: all build run test deps test-go test-js test-browser node-deps web-vendor test-short fuzz bench bench-go bench-cluster bench-peers delivery-costs drill-cluster vet fmt cross

all: build

build:
	$(GO) build -o troupe ./cmd/troupe

run:
	$(GO) run ./cmd/troupe

# Every test: Go (race detector, twice, so flaky tests fail here), the
# JavaScript client against a real server, and the web pages in headless
# Chromium (/usr/bin/chromium). The system packages they drive are installed
# first when missing (.ci/deps: Debian, as root or with sudo).
test: deps vet test-go test-js test-browser

deps:
	@bash .ci/deps

test-go:
	$(GO) test -race -count=2 -timeout 20m ./...

test-js: node-deps
	cd clients/js && npm test

test-browser: node-deps
	@test -x "$${CHROMIUM_PATH:-/usr/bin/chromium}" || { echo "browser tests need Chromium: apt-get install -y chromium"; exit 1; }
	npm --prefix web/tests test
	@if [ -f web/admin/tests/package.json ]; then npm --prefix web/admin/tests test; fi

# The npm packages of the tests, from their lock files: the JS client's
# (yjs for its Yjs provider, esbuild for web-vendor) and the browser tests'
# (playwright-core).
node-deps:
	@[ -d clients/js/node_modules ] || npm --prefix clients/js ci --no-audit --no-fund
	@[ -d web/tests/node_modules ] || npm --prefix web/tests ci --no-audit --no-fund
	@if [ -f web/admin/tests/package.json ] && [ ! -d web/admin/tests/node_modules ]; then npm --prefix web/admin/tests ci --no-audit --no-fund; fi

# web/static/vendor/yjs.mjs: Yjs and the JS client's Yjs provider in one ES
# module for the /collab page (clients/js/build/web-vendor.js; the JS
# client's tests fail while the committed file is not what this makes).
web-vendor: node-deps
	cd clients/js && npm run web-vendor

test-short:
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt needed"; exit 1; }

# The server and the clients build for macOS and Windows too (the transport's
# writev has a portable fallback: transport/writev_other.go). Every package but
# persistence/pgtest, a test helper that runs PostgreSQL with Linux-only
# process attributes.
CROSS_PKGS = $$($(GO) list ./... | grep -v '/persistence/pgtest$$')

cross:
	GOOS=darwin $(GO) build $(CROSS_PKGS)
	GOOS=windows $(GO) build $(CROSS_PKGS)

fuzz:
	$(GO) test ./transport/wire/ -run '^$$' -fuzz FuzzDecode -fuzztime 60s
	$(GO) test ./cmd/troupe/app/ -run '^$$' -fuzz FuzzConnectionFrames -fuzztime 60s -fuzzminimizetime 0s

# The figures: the Go benchmarks, then the side-by-side run with Centrifugo
# (bench-peers, below; it needs ../shared/bench and the peers it builds).
bench: bench-go bench-peers

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Cluster fan-out figures (troupe bench against one node and three nodes on a
# throwaway PostgreSQL, servers on CPU 0, load on CPU 1): .ci/bench-cluster.sh,
# whose header lists the runs and settings (RATE_1K=…, RAMP_1K=…, …).
bench-cluster:
	bash .ci/bench-cluster.sh

# Side by side with Centrifugo (../shared/bench: run its build-peers.sh
# first): .ci/bench-peers.sh [fanout1k] [fanout100] [connect]; its header
# lists the servers and settings.
bench-peers:
	bash .ci/bench-peers.sh

# What one delivery costs troupe and Centrifugo at 100 rooms × 100
# (syscalls, context switches, user and kernel CPU per delivery; perf as
# root): .ci/delivery-costs.sh, SERVERS=… RATE=500 WINDOW=10.
delivery-costs:
	bash .ci/delivery-costs.sh

# The 60-second node-kill drill against three nodes on a throwaway PostgreSQL
# (.ci/drill-cluster.sh [node-kill|node-pause]; DURATION=, CLIENTS=, ROOMS=).
drill-cluster:
	bash .ci/drill-cluster.sh node-kill
