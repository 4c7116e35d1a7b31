package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc/reprovision"
)

// The text verdicts: a line per machine saying its result, the phase it
// reached, how long and why; then each run of the checks; then why a
// rolling run stopped.
func TestPrintReport(t *testing.T) {
	rep := reprovision.Report{
		Verdicts: []reprovision.Verdict{
			{Machine: "node1", Result: reprovision.Passed, Phase: reprovision.PhaseDone, Duration: 61400 * time.Millisecond,
				Checks: []reprovision.CheckOutcome{{Check: "ready", Node: "node1", Status: "passed"}, {Check: "endpoints-healthy", Node: "node1", Status: "passed"}}},
			{Machine: "node2", Result: reprovision.Failed, Phase: reprovision.PhaseChecks, Duration: 95 * time.Second,
				Error: `the scenario's checks after it: check "members-started" on node1 failed after 4 attempts in 30s: output lacks 3`},
			{Machine: "node5", Result: reprovision.Passed, Phase: reprovision.PhaseDone, Duration: 3 * time.Second,
				Checks: []reprovision.CheckOutcome{{Check: "ready", Node: "node5", Status: "passed"}}},
			{Machine: "node6", Result: reprovision.Passed, Phase: reprovision.PhaseDone, Duration: 4 * time.Second},
			{Machine: "node3", Result: reprovision.NotRun, Phase: reprovision.PhaseQueued, Error: "not reprovisioned: rolling stopped after node2"},
			{Machine: "node4", Result: reprovision.Failed, Phase: reprovision.PhaseBootDevice, Duration: 2 * time.Second,
				Error: "node4: set boot device pxe once: redfish https://10.0.0.9: refused the credentials: 401: {}\n"},
		},
		Checks: []reprovision.CheckRun{
			{After: []string{"node1"}, Outcomes: []reprovision.CheckOutcome{{Check: "ready", Node: "node1"}, {Check: "ready", Node: "node2"}, {Check: "endpoints-healthy", Node: "node1"}}},
			{After: []string{"node2"}, Error: `check "members-started" on node1 failed after 4 attempts in 30s: output lacks 3`},
		},
		Stopped: `rolling stopped after node2: check "members-started" on node1 failed after 4 attempts in 30s: output lacks 3`,
	}
	var buf bytes.Buffer
	printReport(&buf, "etcd3", rep)
	want := `node1: passed after 1m1s (config fetched; its 2 checks passed)
node2: FAILED at checks after 1m35s: the scenario's checks after it: check "members-started" on node1 failed after 4 attempts in 30s: output lacks 3
node5: passed after 3s (config fetched; its check passed)
node6: passed after 4s (config fetched)
node3: not run: not reprovisioned: rolling stopped after node2
node4: FAILED at boot-device after 2s: node4: set boot device pxe once: redfish https://10.0.0.9: refused the credentials: 401: {}
scenario etcd3: all 2 checks passed (3 on their nodes) after node1
scenario etcd3: checks after node2 failed: check "members-started" on node1 failed after 4 attempts in 30s: output lacks 3
rolling stopped after node2: check "members-started" on node1 failed after 4 attempts in 30s: output lacks 3
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// Bad flags are refused naming the flag, before any lab or inventory is read.
func TestReprovisionFlagsRefused(t *testing.T) {
	t.Setenv("LABCTL_STATE_DIR", t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"reprovision", "etcd3", "node1", "--parallel", "0"}, "--parallel: 0: want at least 1 machine at a time"},
		{[]string{"reprovision", "etcd3", "node1", "--parallel", "-2"}, "--parallel: -2: want at least 1"},
		{[]string{"reprovision", "etcd3", "node1", "--batch", "2"}, "--batch: only with --rolling"},
		{[]string{"reprovision", "etcd3", "node1", "--rolling", "--batch", "0"}, "--batch: 0: want at least 1 machine per batch"},
		{[]string{"reprovision", "etcd3", "node1", "-o", "yaml"}, `--output: "yaml" is neither text nor json`},
		{[]string{"reprovision", "etcd3"}, "name the machines (NODE...) or give --all"},
		{[]string{"reprovision", "etcd3", "node1", "--all"}, "--all: not with machines named (node1)"},
		{[]string{"reprovision", "--bootsvc", "http://127.0.0.1:8080", "--all"}, "--bootsvc: needs --inventory"},
		{[]string{"reprovision", "--all"}, "want SCENARIO (NODE... | --all)"},
		{[]string{"reprovision", "--inventory", "rack.yaml", "--bootsvc", "http://127.0.0.1:8080", "--all", "--rolling"}, "--rolling: needs a lab (SCENARIO)"},
		{[]string{"reprovision", "etcd3", "node1", "--protocol", "snmp"}, `--protocol: "snmp" is neither ipmi nor redfish`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetArgs(tc.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("labctl %v: %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}
