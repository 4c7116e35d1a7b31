#!/usr/bin/env bash
# Runs DMTF's Redfish Protocol Validator against a virtual BMC.
#
#   scripts/redfish-validator.sh VALIDATOR_DIR          # a virtual BMC in a namespace of its own (go test)
#   scripts/redfish-validator.sh VALIDATOR_DIR SCENARIO  # the Redfish service of a running lab
#
# VALIDATOR_DIR is a checkout of github.com/DMTF/Redfish-Protocol-Validator;
# this script fetches nothing. The validator needs Debian's python3-requests,
# python3-colorama, python3-pyasn1, python3-pyasn1-modules and
# python3-urllib3; its aenum and sseclient imports are met by two small
# shims written here (aenum's Enum is the standard library's; the SSE
# client is only used by event tests, which a BMC without an EventService
# never reaches). Reports (TSV) go to $REPORTS (default ./rpv-reports).
# Run as root: namespaces.
set -euo pipefail

if (($# < 1 || $# > 2)); then
	sed -n '2,5p' "$0" >&2
	exit 2
fi
rpv=$(realpath "$1")
scenario=${2:-}
[[ -f $rpv/rf_protocol_validator.py ]] || { echo "$rpv: no rf_protocol_validator.py (not a Redfish-Protocol-Validator checkout)" >&2; exit 2; }
reports=$(realpath -m "${REPORTS:-rpv-reports}")
mkdir -p "$reports"

shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
cat >"$shim/aenum.py" <<'EOF'
from enum import Enum, auto  # noqa: F401  (all the validator uses of aenum)
EOF
cat >"$shim/sseclient.py" <<'EOF'
class SSEClient:  # the validator subclasses it for event tests only
    def __init__(self, event_source, char_enc='utf-8'):
        self._event_source = event_source
        self._char_enc = char_enc

    def _read(self):
        yield from self._event_source

    def events(self):
        return iter(())
EOF
git -C "$rpv" log -1 --format='validator: %H %cs' 2>/dev/null || true
# requests lets REQUESTS_CA_BUNDLE override --ca-bundle: keep it out.
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE

if [[ -z $scenario ]]; then
	cd "$(dirname "$0")/.."
	LABCTL_RPV_DIR=$rpv LABCTL_RPV_PYTHONPATH=$shim LABCTL_RPV_REPORTS=$reports \
		go test -count=1 -v -run '^TestProtocolValidator$' ./bmc/virtual
	exit
fi

status=$(labctl status "$scenario" --output json)
field() { jq -er "$1" <<<"$status"; }
netns=$(field .netns)
url=$(field '.machines[0].bmc.redfish')
url=${url%%/redfish/*}
password=$(<"$(field '.machines[0].bmc.password_file')")
echo "validating $url in namespace $netns"
ip netns exec "$netns" env PYTHONPATH="$shim" /usr/bin/python3 "$rpv/rf_protocol_validator.py" \
	--user "$(field '.machines[0].bmc.username')" --password "$password" \
	--rhost "$url" --ca-bundle "$(field '.ca_file')" \
	--report-dir "$reports" --report-type tsv
