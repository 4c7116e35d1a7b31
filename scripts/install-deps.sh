#!/usr/bin/env bash
# Installs what labctl needs on a fresh Debian bookworm machine (run as root):
# the Debian packages below, then the Go release go.mod names.
# Idempotent: re-running it installs only what is missing.
#
# Usage: install-deps.sh [--go-only]
#   --go-only  install only Go (the release go.mod names), no other package
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
go_only=false
case "${1:-}" in
"") ;;
--go-only) go_only=true ;;
*) echo "usage: $0 [--go-only]" >&2; exit 2 ;;
esac

packages=(
	# VMs and firmware
	qemu-system-x86 qemu-utils ovmf ipxe ipxe-qemu
	# a software TPM 2.0 per machine (scenario machines with tpm: true; docs/boot-matrix.md)
	swtpm swtpm-tools
	# the snapshot tests read a value back from a restored machine's TPM (docs/snapshots.md)
	tpm2-tools
	# the signed chain Secure Boot machines boot (secure_boot: true; docs/boot-matrix.md)
	shim-signed grub-efi-amd64-signed
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config
	# network boot
	dnsmasq-base iproute2
	# fault injection: a partition is an ebtables chain in the lab's namespace,
	# a loss an nftables table in its bridge family (docs/faults.md)
	iptables nftables
	# disk-fill's tests fill a tmpfs and an ext4 image in a mount namespace
	util-linux e2fsprogs
	# an independent site DHCP server for the simulated rack (labctl serve --dhcp proxy tests)
	kea-dhcp4-server
	# images: the offline OS and the smoke initramfs
	mmdebstrap squashfs-tools busybox-static linux-image-cloud-amd64 cpio gzip zstd
	dracut dracut-network dracut-live ignition
	# scenario peers; sshd for the check runner's tests
	etcd-server etcd-client openssh-server
	# the image archives labctl writes, read by umoci and run by the
	# Kubernetes nodes' runtime (Debian's containerd and runc)
	umoci containerd runc
	# BMC peers
	openipmi ipmitool freeipmi-tools redfishtool python3-sushy
	# DMTF's Redfish Protocol Validator (scripts/redfish-validator.sh)
	python3-pyasn1 python3-pyasn1-modules python3-colorama
	# sushy-tools and virtualbmc from their own sources (docs/racks.md, BMC interoperability)
	python3-flask python3-libvirt python3-pyghmi python3-cliff python3-zmq python3-tenacity python3-webob python3-bcrypt
	# the boot service's gRPC code (make proto) and its independent Python client test
	protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf
	# a real browser for the dashboard's and the test report's tests (chromedp drives it)
	chromium
	# misc (systemd-analyze checks the serve unit)
	git make ca-certificates openssl curl systemd
)

policy_made="" tmp=""
cleanup() {
	[ -z "$policy_made" ] || rm -f "$policy_made"
	[ -z "$tmp" ] || { chmod -R u+w "$tmp"; rm -rf "$tmp"; }
}
trap cleanup EXIT

# apt_install installs the packages of its arguments that are missing.
apt_updated=false
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	export DEBIAN_FRONTEND=noninteractive
	# Keep package scripts from starting daemons (sshd, etcd, libvirtd,
	# OpenIPMI) in the root namespace, with or without systemd as PID 1:
	# labctl starts what it needs inside each lab's own network namespace.
	local policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		policy_made=$policy
	fi
	$apt_updated || apt-get update
	apt_updated=true
	apt-get install -y --no-install-recommends "${missing[@]}"
}

$go_only || apt_install "${packages[@]}"

# Go: the Makefile and .ci/run put /usr/local/go/bin first in PATH, so the Go
# they build with is /usr/local/go's if there is one, else the user's own.
export PATH=/usr/local/go/bin:$PATH

# want is the release go.mod names: its toolchain line, else its go line.
want=$(sed -n 's/^toolchain go\([0-9.]*\)[[:space:]]*$/\1/p' "$repo/go.mod")
[ -n "$want" ] || want=$(sed -n 's/^go \([0-9.]*\)[[:space:]]*$/\1/p' "$repo/go.mod")
case "$want" in
[0-9]*.[0-9]*.[0-9]*) ;;
[0-9]*.[0-9]*) want=$want.0 ;; # "go 1.26" is the release 1.26.0
*) echo "install-deps: no go or toolchain line in $repo/go.mod" >&2; exit 1 ;;
esac

# have is what `go` reports in the repository, as make runs it (a Go that
# switches toolchains by itself reports the one it switches to).
have=$(cd "$repo" && go env GOVERSION 2>/dev/null || true)
if [ "$have" = "go$want" ]; then
	echo "install-deps: Go $want is installed ($(command -v go))"
	exit 0
fi
found=$(cd / && GOTOOLCHAIN=local go env GOVERSION 2>/dev/null || true)
echo "install-deps: Go $want is needed (found: ${found:-no Go}); installing it in /usr/local/go"

dest=/usr/local/go$want
if [ "$(cd / && GOTOOLCHAIN=local "$dest/bin/go" env GOVERSION 2>/dev/null)" != "go$want" ]; then
	case "$(dpkg --print-architecture)" in
	amd64 | arm64 | riscv64 | s390x) arch=$(dpkg --print-architecture) ;;
	i386) arch=386 ;;
	armhf) arch=armv6l ;;
	ppc64el) arch=ppc64le ;;
	*) echo "install-deps: no Go release for $(dpkg --print-architecture)" >&2; exit 1 ;;
	esac
	# Any Go can fetch the toolchain; Debian's (1.19 in bookworm) does.
	command -v go >/dev/null || apt_install golang-go ca-certificates

	# The toolchain is a module: `go mod download` fetches it through
	# GOPROXY and checks it against the checksum database (GOSUMDB) as
	# for any module. A module cache of its own under /usr/local leaves
	# the user's cache alone and lets the result be renamed into place.
	tmp=$(mktemp -d /usr/local/.labctl-go.XXXXXX)
	printf 'module labctl.invalid/toolchain\n' >"$tmp/go.mod"
	mod=golang.org/toolchain@v0.0.1-go$want.linux-$arch
	if ! (cd "$tmp" && GOTOOLCHAIN=local GOMODCACHE="$tmp/mod" GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" \
		go mod download -json "$mod" >"$tmp/download.json"); then
		echo "install-deps: go mod download $mod failed:" >&2
		cat "$tmp/download.json" >&2
		exit 1
	fi
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$tmp/download.json")
	[ -f "$dir/bin/go" ] || { echo "install-deps: go mod download $mod gave no toolchain" >&2; exit 1; }
	rm -rf "$dest"
	mv "$dir" "$dest"
	# Module zips keep no file modes: make the commands executable, as the
	# go command does when it switches to a downloaded toolchain.
	chmod -R u+w,go-w "$dest"
	chmod +x "$dest"/bin/*
	find "$dest/pkg/tool" -type f -exec chmod +x {} +
	find "$dest/lib" -type f -name 'go_?*_?*_exec' -exec chmod +x {} +
fi

# /usr/local/go is a link to the release; a Go directory found there is kept,
# renamed after its version.
if [ -e /usr/local/go ] && [ ! -L /usr/local/go ]; then
	old=/usr/local/$(head -1 /usr/local/go/VERSION 2>/dev/null || echo go.old)
	[ ! -e "$old" ] || old=$(mktemp -u /usr/local/go.old.XXXXXX)
	mv /usr/local/go "$old"
	echo "install-deps: the Go that was in /usr/local/go is now in $old"
fi
ln -sfn "go$want" /usr/local/go
echo "install-deps: $(/usr/local/go/bin/go version) in /usr/local/go (a link to $dest)"
