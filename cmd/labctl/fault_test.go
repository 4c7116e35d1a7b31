package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// TestFaultRefuses: bad input to `labctl fault` is refused naming the
// argument or flag at fault, and changes nothing in the lab's state.
func TestFaultRefuses(t *testing.T) {
	root := t.TempDir()
	t.Setenv("LABCTL_STATE_DIR", root)
	sc, err := scenario.Find("etcd3")
	if err != nil {
		t.Fatal(err)
	}
	st := &state.State{Source: "etcd3", Lab: sc.Lab(state.Dir(root, sc.Name), "labctl-etcd3"), Provider: "qemu", Phase: state.Running}
	if err := state.Create(st); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"fault", "etcd3", "frobnicate"}, `want SCENARIO inject KIND, SCENARIO heal ID or SCENARIO list; got "etcd3 frobnicate"`},
		{[]string{"fault", "etcd3", "inject"}, `want SCENARIO inject KIND`},
		{[]string{"fault", "etcd3", "inject", "meteor", "--machines", "node1"}, `KIND: "meteor": want one of partition, pause, link-down, power-off, service-stop`},
		{[]string{"fault", "etcd3", "inject", "pause", "--machines", "node9"}, `--machines: no machine named "node9"`},
		{[]string{"fault", "etcd3", "inject", "pause"}, `--machines: missing: the machines the pause acts on`},
		{[]string{"fault", "etcd3", "inject", "partition", "--machines", "node1,node2,node3"}, `--machines: isolates every machine`},
		{[]string{"fault", "etcd3", "inject", "partition", "--groups", "node1", "--groups", "node2,node7"}, `--groups: no machine named "node7"`},
		{[]string{"fault", "etcd3", "inject", "service-stop", "--machines", "node1", "--unit", "etcd;reboot"}, `--unit: "etcd;reboot" is not a systemd unit name`},
		{[]string{"fault", "etcd3", "inject", "pause", "--machines", "node1", "--id", "Bad/Id"}, `fault id "Bad/Id": not a DNS label`},
		{[]string{"fault", "etcd3", "heal", "nope"}, `lab etcd3 has no active fault nope`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[2:], " "), func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("labctl %v: %v, want %q", tt.args, err, tt.want)
			}
			if got, err := state.Load(st.Lab.Dir); err != nil || len(got.Faults) != 0 {
				t.Fatalf("state after a refusal: faults %v, %v", got.Faults, err)
			}
		})
	}
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"fault", "etcd3", "list"})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil || strings.TrimSpace(out.String()) != "ID  FAULT  SINCE" {
		t.Fatalf("fault list of a lab without faults: %v: %q", err, out.String())
	}
}
