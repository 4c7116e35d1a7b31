# labctl: build, fast checks, the full test suite and benchmarks.
GO ?= go
BIN := bin/labctl

.PHONY: build lab check test bench deps clean

build:
	$(GO) build -o $(BIN) ./cmd/labctl

# The main job: a three-node etcd lab, network-booted, verified over SSH.
lab: deps build
	$(BIN) up etcd3

# Fast unit tests for the edit loop (under two minutes).
check:
	$(GO) vet ./...
	$(GO) test -short -race -count=1 ./...

# Everything: unit tests plus the end-to-end tests against real libvirtd,
# QEMU, dnsmasq, iPXE, Ignition, etcd and BMC peers. Needs root. One package
# at a time (-p 1): two packages' VMs at once on a small machine under TCG
# would only make both miss their deadlines. E2E_TIMEOUT is each package's
# -timeout: more than cmd/labctl's per-test limits added up (see e2eLimits
# and TestE2ELimitsFitTimeout), so a test's own limit always fires first. The
# script takes down every lab the tests started when it exits, however.
E2E_TIMEOUT=120m
test: deps build
	GO=$(GO) E2E_TIMEOUT=$(E2E_TIMEOUT) ./scripts/test-suite.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

deps:
	./scripts/install-deps.sh

clean:
	rm -rf bin
