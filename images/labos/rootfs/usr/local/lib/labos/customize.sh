#!/bin/sh
# Runs inside the new root (chroot) at the end of the labos build.
set -eu

# systemd treats the boot as the first (and applies presets, which enable
# Ignition's units) only when machine-id says "uninitialized".
echo uninitialized >/etc/machine-id
rm -f /var/lib/dbus/machine-id

# Debian's Ignition relabels what it wrote with setfiles and reads the policy
# type from here; SELinux itself stays off, so the labels it writes (from
# labos's one-line file_contexts) are never read. A full policy's 7 MB
# file_contexts.bin cost 5 s of every boot's Ignition under TCG.
printf 'SELINUX=disabled\nSELINUXTYPE=default\n' >/etc/selinux/config

# Every machine gets its own host key (from Ignition or made on first boot).
rm -f /etc/ssh/ssh_host_*

chmod 0755 /usr/local/sbin/* /usr/local/lib/labos/*.sh
systemctl enable systemd-networkd.service labos-booted.service labos-ready.service labos-firstboot-done.service labos-emulated.service
systemctl disable apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer 2>/dev/null || true
systemctl mask getty@tty1.service
# Headless, no LVM and SELinux off: consoles on virtual terminals, e2scrub's
# snapshot reaper and SELinux's relabel marker only take CPU from the boot
# (e2scrub_reap alone ran 32 s of an etcd3 node's boot under TCG).
systemctl mask getty-static.service e2scrub_reap.service selinux-autorelabel-mark.service
# dracut-shutdown unpacks the initramfs into /run on every shutdown (about 35 s
# under TCG) so that the root can be unmounted from it: a live root lives in
# RAM and an installed one is remounted read-only by systemd anyway.
systemctl mask dracut-shutdown.service
# etcd runs where Ignition enables it, with the configuration it writes.
systemctl disable etcd.service

kver=$(ls /lib/modules)
# Again, now that every package (and dracut module) is in: /etc/dracut.conf.d
dracut --force --kver "$kver" "/boot/initrd.img-$kver"
rm -rf /var/cache/apt/* /var/lib/apt/lists/* /var/log/*.log /usr/share/doc /usr/share/man
