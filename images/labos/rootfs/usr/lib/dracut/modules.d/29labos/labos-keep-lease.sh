#!/bin/sh
# Hand the address the initramfs leased to systemd-networkd in the root, so
# the root configures it at once instead of asking DHCP a third time. The
# lab's DHCP server reserves each machine's address by MAC, so keeping it
# past the lease is safe. /run survives the switch to the root; a boot
# without network in the initramfs writes nothing and 20-wired.network asks
# DHCP as before. 20-wired.network's drop-ins (a scenario's routes, written
# by Ignition) apply to the kept address too, through a link to their
# directory in the root.
ip -o -4 addr show scope global | while read -r _ dev _ addr _; do
    gw=$(ip -4 route show default dev "$dev" | { read -r _ _ via _ && echo "$via"; })
    mkdir -p /run/systemd/network
    {
        echo "[Match]"
        echo "Name=$dev"
        echo "[Network]"
        echo "Address=$addr"
        [ -n "$gw" ] && echo "Gateway=$gw"
        # Router advertisements are only there for iPXE: the root has no use
        # for them and would wait for one.
        echo "IPv6AcceptRA=no"
    } >"/run/systemd/network/10-initramfs-lease-$dev.network"
    ln -sfn /etc/systemd/network/20-wired.network.d "/run/systemd/network/10-initramfs-lease-$dev.network.d"
done
