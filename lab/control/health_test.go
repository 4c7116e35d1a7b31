package control

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/state"
)

// TestLabStatus breaks a running lab one part at a time and asks status
// what it sees: running only when every part is really there, broken
// naming what is missing otherwise.
func TestLabStatus(t *testing.T) {
	// running is a pxe-smoke lab recorded as running, its lab process and
	// dnsmasq stood in for by helpers, in namespace ns.
	running := func(t *testing.T, ns string) *state.State {
		st, _ := pxeSmoke(t, t.TempDir(), ns)
		dir := st.Lab.Dir
		for _, m := range st.Lab.Machines {
			if err := os.MkdirAll(filepath.Join(dir, "machines", m.Name), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		st.Phase, st.MadeNetns = state.Running, true
		st.Pids = map[string]int{"labd": helper(t, nil, DaemonCommand, dir), "dnsmasq": helper(t, nil, "--conf-file="+dir+"/dnsmasq.conf")}
		return st
	}
	const gone = "labctl-trust-never-made"
	tests := []struct {
		name      string
		netns     bool // the lab's namespace exists (a privileged row)
		breakIt   func(t *testing.T, st *state.State)
		phase     state.Phase
		missing   []string // each the start of a line
		recovered []string
		power     string // bios1's
	}{
		{name: "all there", netns: true, phase: state.Running, power: "off"},
		{name: "namespace gone", phase: state.Broken, missing: []string{"network namespace " + gone + " does not exist"}, power: "off"},
		{name: "lab process gone", netns: true, phase: state.Broken, missing: []string{"lab process (pid 1) is not running"},
			breakIt: func(t *testing.T, st *state.State) { st.Pids["labd"] = 1 }},
		{name: "dnsmasq gone", netns: true, phase: state.Broken, missing: []string{"dnsmasq (pid 1) is not running"},
			breakIt: func(t *testing.T, st *state.State) { st.Pids["dnsmasq"] = 1 }},
		{name: "dnsmasq never recorded", netns: true, phase: state.Broken, missing: []string{"dnsmasq is not running"},
			breakIt: func(t *testing.T, st *state.State) { delete(st.Pids, "dnsmasq") }},
		{name: "pid reused by another process", netns: true, phase: state.Broken, missing: []string{"qemu/bios1 (pid "},
			breakIt: func(t *testing.T, st *state.State) { st.Pids["qemu/bios1"] = helper(t, nil, "not-this-lab") }},
		{name: "qemu died", netns: true, phase: state.Broken, missing: []string{"machine uefi1: QEMU (pid 7) exited unasked: signal: killed"},
			breakIt: func(t *testing.T, st *state.State) {
				os.WriteFile(filepath.Join(st.Lab.Dir, "machines", "uefi1", "fault"), []byte("QEMU (pid 7) exited unasked: signal: killed at 20:00:00"), 0o644)
			}},
		{name: "dnsmasq restarted", netns: true, phase: state.Running, recovered: []string{"dnsmasq exited unasked: signal: killed at 20:00:00; restarted"},
			breakIt: func(t *testing.T, st *state.State) {
				st.Exits = map[string]string{"dnsmasq": "exited unasked: signal: killed at 20:00:00; restarted"}
			}},
		{name: "failed lab is reported as failed, not broken", phase: state.Failed,
			breakIt: func(t *testing.T, st *state.State) {
				st.Phase, st.Error, st.Pids["labd"] = state.Failed, "dnsmasq: bind: address in use", 1
			}},
	}
	var ns string
	parent := t
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lns := gone
			if tt.netns {
				testenv.Privileged(t, "makes network namespaces")
				if ns == "" {
					ns = fmt.Sprintf("trust-status-%d", os.Getpid())
					if err := netns.Create(context.Background(), ns); err != nil {
						t.Fatal(err)
					}
					parent.Cleanup(func() { netns.Delete(context.Background(), ns) })
				}
				lns = ns
			}
			st := running(t, lns)
			if tt.breakIt != nil {
				tt.breakIt(t, st)
			}
			s, err := LabStatus(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			if state.Phase(s.Phase) != tt.phase {
				t.Errorf("phase %s, want %s (missing %q)", s.Phase, tt.phase, s.Missing)
			}
			if len(s.Missing) != len(tt.missing) {
				t.Fatalf("missing %q, want %q", s.Missing, tt.missing)
			}
			for i, want := range tt.missing {
				if !strings.HasPrefix(s.Missing[i], want) {
					t.Errorf("missing[%d] = %q, want it to start with %q", i, s.Missing[i], want)
				}
			}
			if !slices.Equal(s.Recovered, tt.recovered) {
				t.Errorf("recovered %q, want %q", s.Recovered, tt.recovered)
			}
			if s.Error != st.Error {
				t.Errorf("error %q, want the recorded %q", s.Error, st.Error)
			}
			if tt.power != "" && s.Machines[0].Power != tt.power {
				t.Errorf("%s power %s, want %s", s.Machines[0].Name, s.Machines[0].Power, tt.power)
			}
		})
	}
}
