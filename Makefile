# troupe — common tasks. `make test` is the one command that runs every test.
GO ?= go

.PHONY: all build run test test-short fuzz bench vet fmt

all: build

build:
	$(GO) build -o troupe ./cmd/troupe

run:
	$(GO) run ./cmd/troupe

# Every test, with the race detector, twice (flaky tests fail here).
test: vet
	$(GO) test -race -count=2 -timeout 20m ./...

test-short:
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt needed"; exit 1; }

fuzz:
	$(GO) test ./transport/wire/ -run '^$$' -fuzz FuzzDecode -fuzztime 60s
	$(GO) test ./cmd/troupe/app/ -run '^$$' -fuzz FuzzConnectionFrames -fuzztime 60s -fuzzminimizetime 0s

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
