#!/usr/bin/env bash
# The full test suite (`make test`), one package at a time. Whatever ends it
# (a Go test timeout, which panics without running cleanups; ^C; a kill by
# CI), every lab an end-to-end test started is taken down on exit, each from
# its own state: the e2e tests keep their labs' state under
# LABCTL_E2E_STATE_DIR, and the exit trap runs `labctl down --all` there.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${GO:=go}" "${E2E_TIMEOUT:?E2E_TIMEOUT is the -timeout of each test package}"
made=
if [ -z "${LABCTL_E2E_STATE_DIR:-}" ]; then
	LABCTL_E2E_STATE_DIR=$(mktemp -d /tmp/labctl-e2e.XXXXXX)
	made=1
fi
export LABCTL_E2E_STATE_DIR
cleanup() {
	bin/labctl down --all --state-dir "$LABCTL_E2E_STATE_DIR"
	if [ -n "$made" ]; then rm -rf "$LABCTL_E2E_STATE_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# TESTFLAGS adds go test flags (CI: -json for its JUnit report); TESTSKIP
# names the tests left to the nightly run (the Makefile says which and why).
"$GO" test -p 1 -count=1 -timeout "$E2E_TIMEOUT" -skip "${TESTSKIP:-}" ${TESTFLAGS:-} ./...
