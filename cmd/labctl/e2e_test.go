package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/state"
)

// e2eEnv runs the labctl binary with a namespace of its own and the state
// root every e2e lab shares (see e2eRoot), so the test can tell exactly what
// belongs to it.
type e2eEnv struct {
	bin, stateDir, netns string
	scenario             string // taken down in cleanup, whatever happened
	env                  []string
}

// e2eRoot is where e2e labs keep their state: $LABCTL_E2E_STATE_DIR when
// `make test` gives it, so that its exit trap (`labctl down --all
// --state-dir`) finds labs left by a test that timed out (a Go test timeout
// panics without running cleanups), else a directory of this test binary's.
// The labctl binary under test is built there once.
var e2eRoot = sync.OnceValues(func() (string, error) {
	root := os.Getenv("LABCTL_E2E_STATE_DIR")
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "labctl-e2e-"); err != nil {
			return "", err
		}
	}
	// Others may run the binary: TestE2ENotRootIsRefused does.
	if err := os.MkdirAll(root, 0o755); err != nil || os.Chmod(root, 0o755) != nil {
		return "", fmt.Errorf("e2e state root %s: %v", root, err)
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(root, "labctl"), ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return root, nil
})

func newE2E(t *testing.T, scenario string) *e2eEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds labctl, runs VMs in network namespaces")
	}
	root, err := e2eRoot()
	if err != nil {
		t.Fatal(err)
	}
	e := &e2eEnv{bin: filepath.Join(root, "labctl"), stateDir: root, netns: fmt.Sprintf("labctl-e2e-%08x", rand.Uint32()), scenario: scenario}
	// Images come from the shared cache (keyed by their inputs): building
	// labos for every test would cost minutes each.
	e.env = append(os.Environ(), "LABCTL_STATE_DIR="+e.stateDir)
	t.Cleanup(func() {
		// On failure, leave nothing behind either.
		e.run(context.Background(), "down", e.scenario)
		netns.Delete(context.Background(), e.netns)
	})
	return e
}

// labDir is the state directory of the test's lab.
func (e *e2eEnv) labDir() string { return filepath.Join(e.stateDir, e.scenario) }

func (e *e2eEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.env
	return cmd
}

func (e *e2eEnv) run(ctx context.Context, args ...string) (string, error) {
	out, err := e.command(ctx, args...).CombinedOutput()
	return string(out), err
}

// assertNothingLeft checks for the lab's namespace, any process that
// mentions its lab directory (labd, dnsmasq, QEMU, libvirtd), and its state.
func (e *e2eEnv) assertNothingLeft(t *testing.T) {
	t.Helper()
	if netns.Exists(e.netns) {
		t.Errorf("namespace %s is left", e.netns)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, _ := os.ReadFile(p)
		if bytes.Contains(raw, []byte(e.labDir()+"/")) || bytes.Contains(raw, append([]byte(e.labDir()), 0)) {
			stat, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
			if !strings.Contains(string(stat), ") Z") {
				t.Errorf("process left: %s: %s", p, bytes.ReplaceAll(raw, []byte{0}, []byte{' '}))
			}
		}
	}
	if _, err := os.Stat(e.labDir()); err == nil {
		t.Errorf("state directory %s is left", e.labDir())
	}
}

func TestE2EPXESmoke(t *testing.T) {
	for _, provider := range []string{"qemu", "libvirt"} {
		t.Run(provider, func(t *testing.T) {
			e := newE2E(t, "pxe-smoke")
			ctx, cancel := e2eContext(t)
			defer cancel()
			art := t.TempDir()
			args := []string{"test", "pxe-smoke", "--provider", provider, "--netns", e.netns, "--artifacts", art}
			// One of the two keeps its lab up, which the user then takes down.
			keep := provider == "qemu"
			var dash *dashboardWatch
			if keep {
				args = append(args, "--keep")
				dash = openDashboard(t, e) // before the lab is up, to see it boot (dashboard_e2e_test.go)
			}
			out, err := e.run(ctx, args...)
			t.Logf("labctl test:\n%s", out)
			if err != nil {
				t.Fatalf("labctl %s: %v", strings.Join(args, " "), err)
			}
			if keep {
				t.Run("dashboard", dash.verify(art))
				// The commands it suggests name the binary as it was run.
				if want := fmt.Sprintf("lab pxe-smoke kept up (--keep): %s ssh pxe-smoke NODE, %[1]s down pxe-smoke", e.bin); !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
				if st, err := e.run(ctx, "status", "pxe-smoke"); err != nil || !strings.Contains(st, "lab pxe-smoke (running)") {
					t.Fatalf("status after test --keep: %v\n%s", err, st)
				}
				if down, err := e.run(ctx, "down", "pxe-smoke"); err != nil {
					t.Fatalf("down after test --keep: %v\n%s", err, down)
				}
				t.Run("dashboard after down", dash.sawDown)
			}
			wants := []string{"accelerator: ", "bios1      check booted-bios-profile passed", "uefi1      check booted-uefi-profile passed", "all 2 checks passed",
				"phases (median of 2 machines): dhcp ", ", ipxe ", ", kernel ", ", booted ", ", checks "}
			for _, want := range wants {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			for _, f := range []string{"dnsmasq.log", "bootsvc.log", "labd.log", "machines.json", "junit.xml", "timeline.txt", "report.html", "events.jsonl", "machines/bios1/serial.log", "machines/uefi1/serial.log"} {
				if st, err := os.Stat(filepath.Join(art, f)); err != nil || st.Size() == 0 {
					t.Errorf("artifact %s: %v", f, err)
				}
			}
			if timeline, _ := os.ReadFile(filepath.Join(art, "timeline.txt")); !strings.Contains(string(timeline), "phases (median of 2 machines): ") {
				t.Errorf("timeline.txt lacks the phases:\n%s", timeline)
			}
			junit, _ := os.ReadFile(filepath.Join(art, "junit.xml"))
			if !strings.Contains(string(junit), `tests="2" failures="0" skipped="0"`) {
				t.Errorf("junit.xml does not record two passed checks:\n%s", junit)
			}
			serial, _ := os.ReadFile(filepath.Join(art, "machines/uefi1/serial.log"))
			if !strings.Contains(string(serial), "LABCTL-SMOKE: profile=smoke-uefi report=ok") {
				t.Errorf("uefi1 serial log lacks the smoke marker")
			}
			e.assertNothingLeft(t)
		})
	}
}

// TestE2EDownAfterKill kills `labctl up` mid-boot with SIGKILL; `labctl
// down` must then remove everything from the state file alone.
func TestE2EDownAfterKill(t *testing.T) {
	e := newE2E(t, "pxe-smoke")
	ctx, cancel := e2eContext(t)
	defer cancel()
	up := e.command(ctx, "up", "pxe-smoke", "--provider", "qemu", "--netns", e.netns)
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.stateDir, "pxe-smoke")
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := state.Load(dir)
		if err == nil && st.Pids["qemu/uefi1"] != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no machine started within a minute: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	up.Process.Signal(syscall.SIGKILL)
	up.Wait()

	out, err := e.run(ctx, "down", "pxe-smoke")
	if err != nil {
		t.Fatalf("labctl down: %v: %s", err, out)
	}
	e.assertNothingLeft(t)
	out, err = e.run(ctx, "down", "pxe-smoke")
	if err != nil || !strings.Contains(out, "not up") {
		t.Errorf("second down: %v: %q, want a no-op saying the lab is not up", err, out)
	}
}

// TestE2EMachineThatCannotBootFailsFast: a machine whose only boot device is
// an empty disk must fail `labctl test` as soon as its firmware gives up,
// with its serial log, long before the scenario's deadline.
func TestE2EMachineThatCannotBootFailsFast(t *testing.T) {
	e := newE2E(t, "pxe-smoke")
	dir := filepath.Join(t.TempDir(), "pxe-smoke-no-boot")
	if err := os.CopyFS(dir, os.DirFS("../../scenarios/pxe-smoke")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "scenario.yaml")
	raw, _ := os.ReadFile(p)
	const old = "    firmware: bios\n"
	if !strings.Contains(string(raw), old) {
		t.Fatalf("scenario.yaml lacks %q: the test no longer breaks the scenario", old)
	}
	os.WriteFile(p, []byte(strings.Replace(string(raw), old, old+"    boot: [disk]\n", 1)), 0o644)

	// Longer than the scenario's deadline, so labctl can clean up even
	// when it does not fail fast.
	ctx, cancel := e2eContext(t)
	defer cancel()
	start := time.Now()
	out, err := e.run(ctx, "test", dir, "--provider", "qemu", "--netns", e.netns, "--artifacts", t.TempDir())
	took := time.Since(start)
	t.Logf("labctl test (bios1 cannot boot), %v:\n%s", took, out)
	if err == nil {
		t.Fatal("labctl test passed with a machine that cannot boot")
	}
	for _, want := range []string{"machine bios1: firmware gave up", "serial log", `check "booted-bios-profile" on bios1 failed`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The scenario's deadline is 5 minutes; failing fast means well before it.
	if took > 2*time.Minute {
		t.Errorf("failed after %v: not fast", took)
	}
	e.assertNothingLeft(t)
}
