#!/bin/bash
# Builds the labos image: a Debian root with mmdebstrap, an initramfs with
# dracut (Ignition, live root over HTTP, network), a squashfs of the root (the
# live root) and an ext4 image of the same root (what labos-install writes).
# dracut's configuration goes in first: the kernel's postinst runs dracut.
# Usage: build.sh OUT OVERLAY SUITE SOURCES...   (LABOS_PACKAGES: comma list)
set -euo pipefail
out=$1 overlay=$2 suite=$3
shift 3
root="$out/.root"
# --one-file-system: were mmdebstrap stopped before it unmounted, its chroot
# would still hold proc, sys, dev/pts and the host's own /dev/shm (a bind).
trap 'rm -rf --one-file-system "$root"' EXIT

# Lean: no documentation, manual pages, locales or lintian overrides.
nodoc=()
for p in /usr/share/doc/ /usr/share/man/ /usr/share/info/ /usr/share/locale/ /usr/share/lintian/ /usr/share/groff/; do
	nodoc+=(--dpkgopt="path-exclude=${p}*")
done

mmdebstrap --mode=root --variant=minbase --format=directory \
	--aptopt='APT::Install-Recommends "false"' "${nodoc[@]}" \
	--include="$LABOS_PACKAGES" \
	--setup-hook="mkdir -p \"\$1/etc\" \"\$1/usr/lib\" && cp -a '$overlay/etc/dracut.conf.d' \"\$1/etc/\" && cp -a '$overlay/usr/lib/dracut' \"\$1/usr/lib/\"" \
	--customize-hook="cp -a '$overlay'/. \"\$1\"/" \
	--customize-hook='chroot "$1" /bin/sh /usr/local/lib/labos/customize.sh' \
	"$suite" "$root" "$@"

# mmdebstrap empties machine-id when it cleans up; systemd needs
# "uninitialized" to treat the first boot as such and apply the presets that
# enable Ignition's units (the live root and the installer copy this one).
echo uninitialized >"$root/etc/machine-id"
kver=$(ls "$root/lib/modules")
cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img"
chmod 0644 "$out/initrd.img"
mksquashfs "$root" "$out/rootfs.squashfs" -noappend -comp zstd -quiet -no-progress \
	-e proc/* sys/* dev/* run/* tmp/*
# The installer writes this image block by block and grows it: copying the
# files inside the guest cost minutes under TCG (page copies and ext4
# allocation), building it here costs seconds. zstd: four times fewer bytes
# for the guest to move (docs/benchmarks.md). 10% and 128 MiB of room for the
# journal and inode tables; the installer grows it to the partition.
mb=$(du -s -B1M "$root" | cut -f1)
mke2fs -q -F -t ext4 -L root -d "$root" "$out/root.ext4" "$((mb * 11 / 10 + 128))M"
zstd -q -T0 --rm "$out/root.ext4" -o "$out/root.ext4.zst"
echo "kernel $kver"
