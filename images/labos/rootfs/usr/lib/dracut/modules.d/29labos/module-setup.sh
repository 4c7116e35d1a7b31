#!/bin/bash
# labos's fixes to Debian's dracut 059, for Ignition with a live root:
# - pulls in network-legacy (DHCP with dhclient) before the modules that need
#   "network" choose a handler: dracut walks modules.d in order, Ignition's is
#   30, and it would otherwise pick systemd-networkd, which needs dbus;
# - creates the overlay's upper and work directories, which the generated
#   sysroot.mount needs and which this dracut only makes in a later hook;
# - hands the initramfs's DHCP lease to the root's systemd-networkd;
# - under emulation, fixes the address layout from the start (the root's
#   labos-emulated.service, run here too).
check() { return 255; }
depends() { echo network-legacy; }
install() {
    inst_hook pre-trigger 50 "$moddir/labos-overlay-dirs.sh"
    inst_hook pre-pivot 50 "$moddir/labos-keep-lease.sh"
    inst_simple /etc/systemd/system/labos-emulated.service "$systemdsystemunitdir/labos-emulated.service"
    $SYSTEMCTL -q --root "$initdir" add-wants sysinit.target labos-emulated.service
}
