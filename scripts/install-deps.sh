#!/usr/bin/env bash
# Installs what labctl needs on a fresh Debian bookworm machine (run as root).
# Idempotent: re-running it installs only what is missing.
set -euo pipefail

packages=(
	# VMs and firmware
	qemu-system-x86 qemu-utils ovmf ipxe ipxe-qemu
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config
	# network boot
	dnsmasq-base iproute2
	# images: the offline OS and the smoke initramfs
	mmdebstrap squashfs-tools busybox-static linux-image-cloud-amd64 cpio gzip zstd
	dracut dracut-network dracut-live ignition
	# scenario peers; sshd for the check runner's tests
	etcd-server etcd-client openssh-server
	# BMC peers
	openipmi ipmitool freeipmi-tools redfishtool python3-sushy
	# the boot service's gRPC code (make proto) and its independent Python client test
	protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf
	# misc
	git make ca-certificates openssl curl
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	# Keep package scripts from starting daemons (sshd, etcd, libvirtd,
	# OpenIPMI) in the root namespace, with or without systemd as PID 1:
	# labctl starts what it needs inside each lab's own network namespace.
	policy=/usr/sbin/policy-rc.d
	[ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; trap 'rm -f "$policy"' EXIT; }
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi

command -v go >/dev/null || { echo "install-deps: Go is required (https://go.dev/dl)" >&2; exit 1; }
