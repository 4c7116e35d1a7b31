#!/bin/sh
# soak.sh [SCENARIO [RUNS]]: runs `labctl test SCENARIO` RUNS times (default
# pxe-smoke, 10), one after another, each in its own network namespace and
# state directory, and prints each run's result and time, then the pass
# count. The providers in $PROVIDERS (default "qemu libvirt") take turns.
# Needs root and bin/labctl (make build). Artifacts and each run's output
# stay under $SOAK_DIR (default a new /tmp/labctl-soak.XXXXXX). Exits 0 only
# if every run passed.
set -u
scenario=${1:-pxe-smoke}
runs=${2:-10}
case "$runs" in
'' | *[!0-9]* | 0) echo "soak.sh: RUNS must be a positive number, not \"$runs\"" >&2; exit 2 ;;
esac
labctl=${LABCTL:-bin/labctl}
providers=${PROVIDERS:-qemu libvirt}
set -- $providers
nproviders=$#
[ "$nproviders" -gt 0 ] || { echo "soak.sh: PROVIDERS is empty" >&2; exit 2; }
dir=${SOAK_DIR:-$(mktemp -d /tmp/labctl-soak.XXXXXX)}
mkdir -p "$dir"

# Whatever ends a run (a failure, ^C), its lab is taken down from its own
# state: only what that run made.
run=
down() { [ -z "$run" ] || "$labctl" down --all --state-dir "$run/state" >>"$run/output.txt" 2>&1; }
trap 'down; exit 130' INT
trap 'down; exit 143' TERM

pass=0 total=0 times=
i=1
while [ "$i" -le "$runs" ]; do
	provider=$(echo $providers | cut -d' ' -f$(((i - 1) % nproviders + 1)))
	run=$dir/run$i-$provider
	mkdir -p "$run"
	start=$(date +%s)
	if LABCTL_STATE_DIR=$run/state "$labctl" test "$scenario" --provider "$provider" \
		--netns "soak$$-$i" --artifacts "$run/artifacts" >"$run/output.txt" 2>&1; then
		result=pass
		pass=$((pass + 1))
	else
		result=FAIL
	fi
	down
	run=
	took=$(($(date +%s) - start))
	total=$((total + took))
	times="$times ${took}s"
	echo "run $i ($scenario, $provider): $result in ${took}s ($dir/run$i-$provider/output.txt)"
	i=$((i + 1))
done
echo "$scenario soak: $pass/$runs passed; runs:$times; mean $((total / runs))s"
[ "$pass" -eq "$runs" ]
