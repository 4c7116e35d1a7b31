#!/bin/sh
# pxe-smoke init: bring up the NIC, report the profile this machine booted to
# the boot service, print a marker on the console and power off; or, with
# labctl.install=URL, install itself to the disk and reboot into it.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /etc/modules.order); do insmod "/lib/modules/$m"; done
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	labctl.profile=*) profile="${arg#*=}" ;;
	labctl.report=*) report="${arg#*=}" ;;
	labctl.net=*) net="${arg#*=}" ;;
	labctl.install=*) install="${arg#*=}" ;;
	labctl.from=*) from="${arg#*=}" ;;
	labctl.install-tpm-resets=*) resets_at_install="${arg#*=}" ;;
	esac
done
# A TPM 2.0, if the machine has one: "measured" when the firmware extended
# PCR 0 (the kernel shows each PCR of the sha256 bank), "zero" when it
# did not, "none" without a TPM.
tpm=none
pcr0=""
if [ -r /sys/class/tpm/tpm0/pcr-sha256/0 ]; then
	pcr0=$(cat /sys/class/tpm/tpm0/pcr-sha256/0)
	case "$pcr0" in
	*[1-9a-fA-F]*) tpm=measured ;;
	*) tpm=zero ;;
	esac
fi
# The TPM's reset count (TPM2_ReadClock, which needs no session): the TPM
# keeps it in its non-volatile state and counts each boot's start-up, so
# it grows from one boot to the next only if that state outlived the
# machine's power-off. "none" without a TPM, "unreadable" when the command
# fails. The response: tag(2) size(4) code(4) time(8) clock(8) then the
# 4-byte reset count (bytes 27 to 30).
resets=none
if [ -c /dev/tpm0 ]; then
	resets=unreadable
	set -- $( (printf '\200\001\000\000\000\012\000\000\001\201' >&3 && dd bs=64 count=1 <&3 2>/dev/null) 3<>/dev/tpm0 | od -An -tu1)
	if [ $# -ge 30 ] && [ "$7$8$9${10}" = 0000 ]; then
		resets=$(( (${27} << 24) + (${28} << 16) + (${29} << 8) + ${30} ))
	fi
fi
# An installed machine's TPM state outlived the install's reboot if its
# reset count grew since the install recorded it: "kept", else "lost";
# "none" when not booted from an install or without a TPM.
tpm_state=none
case "$resets_at_install:$resets" in
[0-9]*:[0-9]*) [ "$resets" -gt "$resets_at_install" ] && tpm_state=kept || tpm_state=lost ;;
esac
# The firmware that booted the machine: the kernel shows UEFI's runtime
# services under /sys/firmware/efi; without them it was a BIOS.
fw=bios
[ -d /sys/firmware/efi ] && fw=uefi
# Secure Boot as the firmware reports it: the SecureBoot variable (4 bytes
# of attributes, then 1 when enforced); "none" without UEFI (BIOS),
# "unreadable" when the variable cannot be read.
sb=none
if [ -d /sys/firmware/efi ]; then
	sb=unreadable
	var=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
	mount -t efivarfs efivarfs /sys/firmware/efi/efivars || echo "LABCTL-SMOKE: cannot mount efivarfs"
	if [ -r "$var" ]; then
		set -- $(od -An -tu1 "$var")
		case "$5" in
		1) sb=enabled ;;
		0) sb=disabled ;;
		esac
	else
		echo "LABCTL-SMOKE: no $var: $(ls /sys/firmware/efi/efivars | head -5)"
	fi
	echo "LABCTL-SMOKE: kernel: $(dmesg | grep -i 'secure.boot' | head -3)"
fi
ip link set lo up
iface=""
for i in $(seq 50); do
	for d in /sys/class/net/*; do
		[ "${d##*/}" = lo ] || iface="${d##*/}"
	done
	[ -n "$iface" ] && break
	sleep 0.2
done
# The first global address of family $1 (4 or 6) on $iface, without its
# prefix length; "none" when it has none yet (or one still in DAD).
addr() {
	a=$(ip -"$1" addr show dev "$iface" scope global 2>/dev/null | grep -v tentative | awk '$1 ~ /^inet/ {print $2; exit}')
	echo "${a%/*}" | grep . || echo none
}
result=failed
up=""
if [ -z "$iface" ]; then
	echo "LABCTL-SMOKE: no network interface"
elif [ "$net" = ipv6 ]; then
	# labctl.net=ipv6: an IPv6-only machine asks no DHCPv4; the kernel
	# takes an address from the lab's router advertisements (SLAAC).
	ip link set "$iface" up
	for i in $(seq 100); do
		[ "$(addr 6)" != none ] && up=1 && break
		sleep 0.2
	done
	[ -n "$up" ] || echo "LABCTL-SMOKE: no IPv6 address on $iface"
elif udhcpc -i "$iface" -n -q -t 10 -T 2 -s /etc/udhcpc.script; then
	up=1
else
	echo "LABCTL-SMOKE: no DHCP lease on $iface"
fi
# The addresses the guest holds, in its report: an IPv6-only machine's
# shows ipv4=none.
ipv4=none ipv6=none
if [ -n "$iface" ]; then
	ipv4=$(addr 4) ipv6=$(addr 6)
fi
# The install (labctl.install=URL, the image's directory on the boot
# service): a FAT file system on the whole disk, which UEFI reads as it
# would an EFI system partition, with Debian's signed shim on the removable
# path and Debian's signed GRUB beside it (this initrd carries both, so the
# installed machine boots under Secure Boot too), this image's kernel and
# initrd from URL, and a GRUB config (where the signed GRUB looks:
# /EFI/debian) that boots them with labctl.from=disk and the TPM's reset
# count now, for the installed boot to compare with its own.
install_to_disk() {
	for i in $(seq 50); do
		[ -b /dev/vda ] && break
		sleep 0.2
	done
	mkdosfs -n LABCTL /dev/vda >/dev/null || return
	mkdir -p /mnt && mount -t vfat /dev/vda /mnt || return
	mkdir -p /mnt/EFI/BOOT /mnt/EFI/debian &&
		cp /efi/shimx64.efi /mnt/EFI/BOOT/BOOTX64.EFI &&
		cp /efi/grubx64.efi /mnt/EFI/BOOT/grubx64.efi &&
		wget -q -O /mnt/vmlinuz "$install/vmlinuz" &&
		wget -q -O /mnt/initrd.img "$install/initrd.img" &&
		cat >/mnt/EFI/debian/grub.cfg <<CFG
set timeout=0
linux /vmlinuz console=ttyS0 quiet labctl.profile=$profile labctl.from=disk labctl.install-tpm-resets=$resets "labctl.report=$report"
initrd /initrd.img
boot
CFG
	rc=$?
	umount /mnt || rc=1
	return $rc
}
if [ -n "$install" ] && [ -n "$up" ] && [ -n "$report" ]; then
	if install_to_disk; then
		wget -q -O /dev/null "$report&event=installed&detail=disk=/dev/vda%20tpm-resets=$resets"
		echo "LABCTL-SMOKE: installed to /dev/vda (tpm-resets=$resets), rebooting"
		sync
		reboot -f
	fi
	wget -q -O /dev/null "$report&event=install-failed&detail=disk=/dev/vda"
	echo "LABCTL-SMOKE: install to /dev/vda failed"
	up=""
fi
if [ -z "$up" ]; then
	:
elif [ -z "$report" ]; then
	echo "LABCTL-SMOKE: no labctl.report= on the kernel command line"
elif wget -q -O /dev/null "$report&event=booted&detail=profile=$profile%20firmware=$fw%20tpm=$tpm%20pcr0=$pcr0%20tpm-resets=$resets%20tpm-state=$tpm_state%20from=${from:-network}%20secureboot=$sb%20ipv4=$ipv4%20ipv6=$ipv6"; then
	result=ok
else
	echo "LABCTL-SMOKE: report to $report failed"
fi
echo "LABCTL-SMOKE: profile=$profile report=$result firmware=$fw tpm=$tpm pcr0=$pcr0 tpm-resets=$resets tpm-state=$tpm_state from=${from:-network} secureboot=$sb ipv4=$ipv4 ipv6=$ipv6"
sync
poweroff -f
