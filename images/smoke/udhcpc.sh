#!/bin/sh
# udhcpc calls this with the lease in the environment.
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	ip link set "$interface" up
	echo "LABCTL-SMOKE: $interface has $ip"
	;;
deconfig)
	ip link set "$interface" up
	;;
esac
exit 0
