# labctl: build, fast checks, the full test suite and benchmarks.
GO ?= go
BIN := bin/labctl

.PHONY: build lab check test test-k8s bench deps clean

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

# The Kubernetes scenarios end to end (k8s-install, and k8s with a wrong
# node certificate): longer under TCG than `make test`'s budget.
test-k8s: deps build
	LABCTL_E2E_K8S=1 $(GO) test -count=1 -timeout 80m -run 'TestE2EK8s' -v ./cmd/labctl/

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

deps:
	./scripts/install-deps.sh

clean:
	rm -rf bin
