# labctl: build, fast checks, the full test suite and benchmarks.
GO ?= go
BIN := bin/labctl

.PHONY: build lab check test soak bench bench-bootsvc deps clean

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
# would only make both miss their deadlines.
test: deps build
	$(GO) test -p 1 -count=1 -timeout 80m ./...

# The flake rate: pxe-smoke 10 times, alternating qemu and libvirt (root).
soak: build
	./scripts/soak.sh 10

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

# The boot service as a process: the machine log's memory under a flood of
# reports, and /ipxe beside a bare net/http handler (needs wrk).
bench-bootsvc: build
	$(GO) run ./scripts/bootsvc-bench flood
	$(GO) run ./scripts/bootsvc-bench ipxe

deps:
	./scripts/install-deps.sh

clean:
	rm -rf bin
