package control

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/state"
)

// helper starts a process whose command line names args, as labd, dnsmasq
// and QEMU name the lab's directory, and stops it when the test ends.
func helper(t *testing.T, args ...string) int {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", "sleep 600; :"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Under load the new command line may show a moment after Start.
	for deadline := time.Now().Add(5 * time.Second); !proc.Runs(cmd.Process.Pid, args...) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return cmd.Process.Pid
}

func TestAssess(t *testing.T) {
	testenv.Privileged(t, "creates a network namespace")
	ns := fmt.Sprintf("trust-assess-%d", os.Getpid())
	if err := netns.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Delete(context.Background(), ns)
	running := func(t *testing.T) *state.State {
		st, err := Check(UpOptions{Source: "pxe-smoke", Provider: "qemu", Netns: ns + "-free", StateRoot: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		st.Lab.Netns, st.MadeNetns = ns, true
		dir := st.Lab.Dir
		for _, m := range st.Lab.Machines {
			os.MkdirAll(filepath.Join(dir, "machines", m.Name), 0o755)
		}
		st.Phase = state.Running
		st.Pids = map[string]int{"labd": helper(t, DaemonCommand, dir), "dnsmasq": helper(t, "--conf-file="+dir+"/dnsmasq.conf")}
		return st
	}
	tests := []struct {
		name      string
		breakIt   func(t *testing.T, st *state.State)
		phase     state.Phase
		missing   []string // exactly; "{bios1 pid}" stands for the pid breakIt recorded
		recovered []string // exactly
	}{
		{name: "all there", phase: state.Running},
		{name: "lab process gone", phase: state.Broken, missing: []string{"lab process (pid 1) is not running"},
			breakIt: func(t *testing.T, st *state.State) { st.Pids["labd"] = 1 }},
		{name: "namespace gone", phase: state.Broken, missing: []string{"network namespace labctl-trust-never-made does not exist"},
			breakIt: func(t *testing.T, st *state.State) { st.Lab.Netns = "labctl-trust-never-made" }},
		{name: "dnsmasq gone", phase: state.Broken, missing: []string{"dnsmasq (pid 1) is not running"},
			breakIt: func(t *testing.T, st *state.State) { st.Pids["dnsmasq"] = 1 }},
		{name: "pid reused by another process", phase: state.Broken, missing: []string{"qemu/bios1 (pid {bios1 pid}) is not running"},
			breakIt: func(t *testing.T, st *state.State) { st.Pids["qemu/bios1"] = helper(t, "not-this-lab") }},
		{name: "qemu died", phase: state.Broken, missing: []string{"machine uefi1: QEMU (pid 7) exited unasked: signal: killed at 20:00:00"},
			breakIt: func(t *testing.T, st *state.State) {
				os.WriteFile(filepath.Join(st.Lab.Dir, "machines", "uefi1", "fault"), []byte("QEMU (pid 7) exited unasked: signal: killed at 20:00:00"), 0o644)
			}},
		{name: "dnsmasq restarted", phase: state.Running, recovered: []string{"dnsmasq exited unasked: signal: killed at 20:00:00; restarted"},
			breakIt: func(t *testing.T, st *state.State) {
				st.Exits = map[string]string{"dnsmasq": "exited unasked: signal: killed at 20:00:00; restarted"}
			}},
		{name: "failed lab is reported as failed", phase: state.Failed,
			breakIt: func(t *testing.T, st *state.State) { st.Phase, st.Pids["labd"] = state.Failed, 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := running(t)
			if tt.breakIt != nil {
				tt.breakIt(t, st)
			}
			prov, err := Provider(st)
			if err != nil {
				t.Fatal(err)
			}
			h := Assess(context.Background(), st, prov)
			if h.Phase != tt.phase {
				t.Errorf("phase %s, want %s (missing %q)", h.Phase, tt.phase, h.Missing)
			}
			var missing []string
			for _, m := range tt.missing {
				missing = append(missing, strings.ReplaceAll(m, "{bios1 pid}", strconv.Itoa(st.Pids["qemu/bios1"])))
			}
			if !slices.Equal(h.Missing, missing) {
				t.Errorf("missing %q, want %q", h.Missing, missing)
			}
			if !slices.Equal(h.Recovered, tt.recovered) {
				t.Errorf("recovered %q, want %q", h.Recovered, tt.recovered)
			}
			if tt.phase == state.Running && h.Power["bios1"] != "off" {
				t.Errorf("power %v, want bios1 off", h.Power)
			}
		})
	}
}
