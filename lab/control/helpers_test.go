package control

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/lab/vm"
)

// helperCommand, as this test binary's first argument, makes it stand in
// for one of a lab's processes (labd, dnsmasq, QEMU): a single process whose
// command line holds the arguments that follow, running until it is killed
// or its standard input closes.
const helperCommand = "control-test-helper"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == helperCommand {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	if len(os.Args) > 3 && os.Args[1] == labdHelperCommand {
		os.Exit(labdHelper(os.Args[2], os.Args[3]))
	}
	os.Exit(m.Run())
}

// helper starts a process whose command line names args, as labd, dnsmasq
// and QEMU name the lab's directory, and ends it when the test ends. prefix
// runs it through another command (`ip netns exec NS`, which execs).
func helper(t *testing.T, prefix []string, args ...string) int {
	t.Helper()
	argv := append(append(append([]string{}, prefix...), os.Args[0], helperCommand), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	// The new command line shows once the exec is done.
	for deadline := time.Now().Add(10 * time.Second); !proc.Runs(cmd.Process.Pid, append([]string{helperCommand}, args...)...); {
		if time.Now().After(deadline) {
			t.Fatalf("helper %v did not start", argv)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd.Process.Pid
}

// deadPid is the pid of a process that ran and was reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], helperCommand)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// pxeSmoke is the state of a pxe-smoke lab under root, as Up would record
// it, made without Up's checks (which need root).
func pxeSmoke(t *testing.T, root, ns string) (*state.State, *scenario.Scenario) {
	t.Helper()
	sc, err := scenario.Find("pxe-smoke")
	if err != nil {
		t.Fatal(err)
	}
	dir := state.Dir(root, sc.Name)
	return &state.State{Source: "pxe-smoke", Lab: sc.Lab(dir, ns), Provider: "qemu", Phase: state.Starting}, sc
}

// events is a Reporter that keeps what it is told, one line per event.
type events struct {
	mu    sync.Mutex
	lines []string
}

func (e *events) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, fmt.Sprintf(format, args...))
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.lines...)
}

func (e *events) ImageBuilding(name string) { e.add("image %s building", name) }
func (e *events) ImageBuilt(name, dir string, _ time.Duration, err error) {
	e.add("image %s built in %s: %v", name, dir, err)
}
func (e *events) AccelProbed(a vm.Accel, why string) { e.add("accelerator probed: %s: %s", a, why) }
func (e *events) LabStarted(st *state.State)         { e.add("lab %s started", st.Lab.Name) }
func (e *events) Accelerator(a string)               { e.add("accelerator %s", a) }
func (e *events) MachineStep(s progress.Step)        { e.add("%s: %s", s.Machine, s.Text) }
func (e *events) CheckResult(_ time.Duration, r check.Result) {
	e.add("check %s on %s %s", r.Check, r.Node, r.Status)
}
func (e *events) Reprovisioned(r reprovision.Result) { e.add("%s reprovisioned: %v", r.Name, r.Err) }
func (e *events) Step(StepEvent)                     {}
func (e *events) Log() *slog.Logger                  { return slog.New(slog.DiscardHandler) }
