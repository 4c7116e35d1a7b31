#!/bin/sh
# soak.sh [RUNS]: runs `labctl test pxe-smoke` RUNS times (default 10),
# alternating the qemu and libvirt providers, each run in its own network
# namespace and state directory, one after another, and prints the pass
# count. Needs root and bin/labctl (make build). Artifacts and each run's
# output stay under $SOAK_DIR (default a new /tmp/labctl-soak.XXXXXX).
set -u
runs=${1:-10}
labctl=${LABCTL:-bin/labctl}
dir=${SOAK_DIR:-$(mktemp -d /tmp/labctl-soak.XXXXXX)}
mkdir -p "$dir"
pass=0
i=1
while [ "$i" -le "$runs" ]; do
	if [ $((i % 2)) -eq 1 ]; then provider=qemu; else provider=libvirt; fi
	run=$dir/run$i-$provider
	mkdir -p "$run"
	start=$(date +%s)
	if LABCTL_STATE_DIR=$run/state "$labctl" test pxe-smoke --provider "$provider" \
		--netns "svc-soak-$i" --artifacts "$run/artifacts" >"$run/output.txt" 2>&1; then
		result=pass
		pass=$((pass + 1))
	else
		result=FAIL
	fi
	echo "run $i ($provider): $result in $(($(date +%s) - start))s ($run/output.txt)"
	i=$((i + 1))
done
echo "pxe-smoke soak: $pass/$runs passed"
[ "$pass" -eq "$runs" ]
