#!/bin/sh
# bench-boot.sh [SCENARIO...]: how long `labctl up` takes from start to every
# check passed, for each scenario (default pxe-smoke and etcd3), one lab at a
# time, with the accelerator it used (and why) and where the time went (the
# phases line `labctl up` ends with). Every lab it starts is taken down
# however it ends. Needs root and bin/labctl (make build). Each lab has its
# own namespace (labctl-bench-SCENARIO); state and each run's whole output
# stay under $BENCH_DIR (default a new /tmp/labctl-bench-boot.XXXXXX).
# PROVIDER (default qemu) picks the provider; run it under nice on a shared
# machine and say so with the figures. A fixed task's time before and after
# each lab (the host line) tells whether two runs had the same machine: on
# a shared host the same lab varies by a quarter between runs.
set -u
labctl=${LABCTL:-bin/labctl}
provider=${PROVIDER:-qemu}
dir=${BENCH_DIR:-$(mktemp -d /tmp/labctl-bench-boot.XXXXXX)}
export LABCTL_STATE_DIR="$dir/state"
mkdir -p "$LABCTL_STATE_DIR"
trap '"$labctl" down --all >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM
[ $# -gt 0 ] || set -- pxe-smoke etcd3

# host: seconds for one core to hash 512 MiB of zeros (lower is faster).
host() {
	s=$(date +%s%N)
	head -c 536870912 /dev/zero | sha256sum >/dev/null
	e=$(date +%s%N)
	awk -v ns=$((e - s)) 'BEGIN { printf "%.2f", ns / 1e9 }'
}

echo "bench-boot: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), niceness $(nice), provider $provider"
status=0
for sc in "$@"; do
	out=$dir/$sc.txt
	before=$(host)
	start=$(date +%s%N)
	if "$labctl" up "$sc" --provider "$provider" --netns "labctl-bench-$sc" >"$out" 2>&1; then
		result=verified
	else
		result=FAILED
		status=1
	fi
	end=$(date +%s%N)
	"$labctl" down "$sc" >>"$out" 2>&1
	# The probe's answer (with why) when labctl probed, else what it used.
	accel=$(sed -n 's/^accelerator probe: //p' "$out" | head -n 1)
	[ -n "$accel" ] || accel=$(sed -n 's/^accelerator: //p' "$out" | head -n 1)
	case $accel in
	tcg*) accel="$accel: KVM is not usable here, guests run under TCG (emulated, far slower)" ;;
	esac
	echo "$sc: $result in $(( (end - start) / 100000000 / 10 )).$(( (end - start) / 100000000 % 10 )) s from labctl up to all checks passed (output $out)"
	echo "  accelerator: ${accel:-unknown}"
	sed -n 's/^phases/  phases/p' "$out"
	echo "  host: sha256 of 512 MiB on one core took $before s before and $(host) s after (lower is faster)"
	[ "$result" = verified ] || tail -n 15 "$out" | sed 's/^/  | /'
done
exit $status
