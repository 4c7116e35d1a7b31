#!/bin/bash
# Pulls in network-legacy (DHCP with dhclient) before the modules that need
# "network" choose a handler: dracut walks modules.d in order, Ignition's is
# 30, and it would otherwise pick systemd-networkd, which needs dbus.
check() { return 255; }
depends() { echo network-legacy; }
install() { :; }
