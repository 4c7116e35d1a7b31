package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/labctl/labctl/lab/console"
	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/state"
)

// e2eLimits is each end-to-end test's own time limit (the limits the tests
// had before this table, none shortened to fit a sum). They add up to more
// than CI's budget on purpose: a limit says when one test is hopeless, and
// the package's -timeout (E2E_TIMEOUT in the Makefile) bounds the whole.
// e2eContext clamps every test to that -timeout less e2eCleanupTime, because
// a Go test timeout panics without running cleanups: a test that runs out of
// time fails and takes its lab down itself. Labs of a run killed from outside
// are taken down by `make test`'s exit trap (scripts/test-suite.sh).
var e2eLimits = map[string]time.Duration{
	"TestE2EPXESmoke/qemu":                  6 * time.Minute,
	"TestE2EPXESmoke/libvirt":               6 * time.Minute,
	"TestE2EDownAfterKill":                  3 * time.Minute,
	"TestE2EMachineThatCannotBootFailsFast": 8 * time.Minute,
	"TestE2ECrashPaths/qemu":                4 * time.Minute,
	"TestE2ECrashPaths/libvirt":             4 * time.Minute,
	"TestE2EForeignNetnsSurvives":           1 * time.Minute,
	"TestE2ENotRootIsRefused":               1 * time.Minute,
	"TestE2ESecondLabRefused":               4 * time.Minute,
	"TestE2EEtcd3":                          40 * time.Minute, // with its faults and snapshots
	"TestE2EEtcdLarge":                      17 * time.Minute,
	"TestE2EEtcd3IPv6":                      15 * time.Minute,
	"TestE2EEtcd3Install":                   45 * time.Minute,
	"TestE2EBrokenScenarioIsDiagnosed":      15 * time.Minute,
	"TestE2EVirtualBMCTools":                15 * time.Minute,
	"TestE2EReprovisionLab":                 15 * time.Minute,
	"TestE2EReprovisionFleet":               10 * time.Minute,
	"TestE2EReprovisionWithoutOnce":         10 * time.Minute,
	"TestE2EConsole":                        4 * time.Minute,
	"TestE2ELabAPI":                         6 * time.Minute,
	"TestE2EK8sInstall":                     40 * time.Minute,
	"TestE2EK8sWrongNodeCertificate":        30 * time.Minute,
	"TestE2EK8sInstallRack":                 45 * time.Minute, // the simulated rack, then k8s-install on its servers
	"TestE2ERackSim":                        20 * time.Minute, // with etcd3 up on its servers, reprovisioned, and etcd3-install
	"TestE2ETestSeveral":                    6 * time.Minute,
	"TestE2EBootMatrix/qemu":                5 * time.Minute,
	"TestE2EBootMatrix/libvirt":             5 * time.Minute,
	"TestE2ESecureBootRefusesUnsigned":      4 * time.Minute,
}

// e2eCleanupTime is what a test keeps back from the package's -timeout for
// its cleanups: `labctl down` of one lab, with room under load.
const e2eCleanupTime = 2 * time.Minute

// e2eContext bounds the test by its entry in e2eLimits and by the package's
// -timeout less e2eCleanupTime, whichever comes first.
func e2eContext(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	d, ok := e2eLimits[t.Name()]
	if !ok {
		t.Fatalf("%s has no time limit in e2eLimits", t.Name())
	}
	return context.WithDeadline(context.Background(), e2eDeadline(t, d))
}

func e2eDeadline(t *testing.T, limit time.Duration) time.Time {
	deadline := time.Now().Add(limit)
	if pkg, ok := t.Deadline(); ok && pkg.Add(-e2eCleanupTime).Before(deadline) {
		deadline = pkg.Add(-e2eCleanupTime)
	}
	return deadline
}

// A test whose own limit reaches past the package's -timeout stops early
// enough for its cleanups to run.
func TestE2EDeadlineLeavesCleanupTime(t *testing.T) {
	pkg, ok := t.Deadline()
	if !ok {
		t.Skip("no -timeout: nothing to leave room before")
	}
	if got := e2eDeadline(t, 1000*time.Hour); !got.Equal(pkg.Add(-e2eCleanupTime)) {
		t.Errorf("deadline %v, want the package's %v less %v", got, pkg, e2eCleanupTime)
	}
	if got := e2eDeadline(t, time.Millisecond); !got.Before(pkg.Add(-e2eCleanupTime)) {
		t.Errorf("a short limit %v was stretched to %v", time.Millisecond, got)
	}
}

// status runs `labctl status -o json` and returns what it says.
func (e *e2eEnv) status(ctx context.Context) (control.Status, error) {
	var s control.Status
	out, err := e.command(ctx, "status", e.scenario, "-o", "json").Output()
	if err != nil {
		return s, fmt.Errorf("labctl status: %w", err)
	}
	if err := json.Unmarshal(out, &s); err != nil {
		return s, fmt.Errorf("labctl status -o json: %w: %s", err, out)
	}
	return s, nil
}

// waitStatus polls status for at most d until ok accepts what it says.
func (e *e2eEnv) waitStatus(t *testing.T, ctx context.Context, d time.Duration, what string, ok func(control.Status) bool) control.Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s, err := e.status(ctx)
		if err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("status never showed %s within %v: %+v, %v", what, d, s, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func contains(list []string, part string) bool {
	for _, s := range list {
		if strings.Contains(s, part) {
			return true
		}
	}
	return false
}

// findProc returns the pid of the live process whose command line holds
// every one of parts.
func findProc(t *testing.T, parts ...string) int {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		raw, _ := os.ReadFile(p)
		found := len(raw) > 0
		for _, part := range parts {
			found = found && bytes.Contains(raw, []byte(part))
		}
		var pid int
		if found {
			fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
			return pid
		}
	}
	t.Fatalf("no process with %q in its command line", parts)
	return 0
}

// TestE2ECrashPaths kills, one after another in a single lab per provider,
// one machine's QEMU, dnsmasq, the private libvirtd (libvirt) and the lab
// process, while the machines boot. After each, status must say what died;
// at the end down must leave nothing behind.
func TestE2ECrashPaths(t *testing.T) {
	for _, provider := range []string{"qemu", "libvirt"} {
		t.Run(provider, func(t *testing.T) {
			e := newE2E(t, "pxe-smoke")
			ctx, cancel := e2eContext(t)
			defer cancel()
			up := e.command(ctx, "up", "pxe-smoke", "--provider", provider, "--netns", e.netns)
			var upOut bytes.Buffer
			up.Stdout, up.Stderr = &upOut, &upOut
			if err := up.Start(); err != nil {
				t.Fatal(err)
			}
			// The CLI only watches; the lab process holds the lab.
			upDone := make(chan error, 1)
			go func() { upDone <- up.Wait() }()
			defer func() {
				up.Process.Kill()
				<-upDone
				t.Logf("labctl up:\n%s", upOut.String())
			}()
			s := e.waitStatus(t, ctx, 2*time.Minute, "running with both machines on", func(s control.Status) bool {
				return s.Phase == "running" && len(s.Machines) == 2 && s.Machines[0].Power == "on" && s.Machines[1].Power == "on"
			})
			if len(s.Missing) > 0 {
				t.Fatalf("a healthy lab has missing parts: %q", s.Missing)
			}
			st, err := state.Load(e.labDir())
			if err != nil {
				t.Fatal(err)
			}
			kill := func(what string, pid int) {
				t.Helper()
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatalf("kill -9 %s (pid %d): %v", what, pid, err)
				}
				t.Logf("killed %s (pid %d)", what, pid)
			}

			kill("QEMU of bios1", findProc(t, "qemu-system", e.labDir()+"/machines/bios1/"))
			want := map[string]string{"qemu": "machine bios1: QEMU (pid", "libvirt": "machine bios1: libvirt domain crashed"}[provider]
			e.waitStatus(t, ctx, 30*time.Second, want, func(s control.Status) bool { return s.Phase == "broken" && contains(s.Missing, want) })
			// up, watching the boot, fails at once with the same words.
			select {
			case err := <-upDone:
				upDone <- err // for the deferred wait
				if err == nil || !strings.Contains(upOut.String(), want) {
					t.Errorf("labctl up ended (%v) without saying %q", err, want)
				}
				if n := strings.Count(upOut.String(), ", last lines:"); n != 1 {
					t.Errorf("labctl up showed the dead machine's serial log %d times, want once", n)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("labctl up still waits 30 s after bios1's VM died")
			}

			kill("dnsmasq", st.Pids["dnsmasq"])
			e.waitStatus(t, ctx, 30*time.Second, "dnsmasq's death and restart", func(s control.Status) bool {
				return contains(s.Recovered, "dnsmasq exited unasked: signal: killed")
			})

			if provider == "libvirt" {
				kill("private libvirtd", st.Pids["libvirtd"])
				want := fmt.Sprintf("libvirtd (pid %d) is not running", st.Pids["libvirtd"])
				e.waitStatus(t, ctx, 30*time.Second, want, func(s control.Status) bool { return contains(s.Missing, want) })
			}

			kill("lab process", st.Pids["labd"])
			want = fmt.Sprintf("lab process (pid %d) is not running", st.Pids["labd"])
			e.waitStatus(t, ctx, 30*time.Second, want, func(s control.Status) bool { return contains(s.Missing, want) })
			text, _ := e.run(ctx, "status", "pxe-smoke")
			t.Logf("labctl status:\n%s", text)
			if !strings.Contains(text, "lab pxe-smoke (broken)") || !strings.Contains(text, "missing: "+want) {
				t.Errorf("text status does not say the lab is broken and why")
			}

			if out, err := e.run(ctx, "down", "pxe-smoke"); err != nil {
				t.Fatalf("labctl down: %v: %s", err, out)
			}
			e.assertNothingLeft(t)
		})
	}
}

// TestE2EForeignNetnsSurvives: a namespace made outside labctl, with a link
// in it, is refused by up (naming it) and survives both up and down.
func TestE2EForeignNetnsSurvives(t *testing.T) {
	e := newE2E(t, "pxe-smoke")
	ctx, cancel := e2eContext(t)
	defer cancel()
	for _, argv := range [][]string{{"netns", "add", e.netns}, {"-n", e.netns, "link", "add", "userbr0", "type", "bridge"}} {
		if out, err := exec.Command("ip", argv...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", argv, err, out)
		}
	}
	out, err := e.run(ctx, "up", "pxe-smoke", "--provider", "qemu", "--netns", e.netns)
	if want := "network namespace " + e.netns + " already exists"; err == nil || !strings.Contains(out, want) {
		t.Fatalf("labctl up --netns %s: %v: %s; want a refusal containing %q", e.netns, err, out, want)
	}
	out, err = e.run(ctx, "down", "pxe-smoke")
	if err != nil || !strings.Contains(out, "lab pxe-smoke is not up") {
		t.Errorf("labctl down: %v: %s", err, out)
	}
	if out, err := exec.Command("ip", "-n", e.netns, "link", "show", "userbr0").CombinedOutput(); err != nil {
		t.Fatalf("the user's namespace or its link is gone: %v: %s", err, out)
	}
}

// testConsole attaches `labctl console` to node's serial console through a
// pseudo-terminal as a user would: the machine's getty answers a return
// with a login prompt, ^] detaches, and the terminal is as it was. With
// stdin not a terminal, the console ends at the end of input.
func (e *e2eEnv) testConsole(t *testing.T, ctx context.Context, node string) {
	master, tty, err := console.OpenPTY()
	if err != nil {
		t.Fatalf("pseudo-terminal: %v", err)
	}
	defer master.Close()
	defer tty.Close()
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	cmd := e.command(ctx, "console", e.scenario, node)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var seen bytes.Buffer
	deadline := time.Now().Add(time.Minute)
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), "login:") {
		if time.Now().After(deadline) {
			t.Fatalf("no login prompt on %s's console within a minute:\n%s", node, seen.String())
		}
		master.Write([]byte("\r"))
		master.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _ := master.Read(buf)
		seen.Write(buf[:n])
	}
	master.Write([]byte{console.Escape})
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("labctl console after ^]: %v", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("labctl console did not detach on ^]")
	}
	after, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil || *after != *before {
		t.Errorf("terminal not restored after detaching: %v\n before %+v\n after  %+v", err, before, after)
	}

	piped := e.command(ctx, "console", e.scenario, node)
	piped.Stdin = strings.NewReader("\r")
	start := time.Now()
	if out, err := piped.CombinedOutput(); err != nil || time.Since(start) > 10*time.Second {
		t.Errorf("labctl console with piped input: %v after %v: %s; want it to end at the end of input", err, time.Since(start), out)
	}
}

// TestE2ENotRootIsRefused: up and down as an ordinary user say that root is
// needed, before anything is built or read.
func TestE2ENotRootIsRefused(t *testing.T) {
	e := newE2E(t, "pxe-smoke")
	ctx, cancel := e2eContext(t)
	defer cancel()
	for _, args := range [][]string{{"up", "pxe-smoke"}, {"down", "pxe-smoke"}} {
		cmd := e.command(ctx, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if want := "labctl needs root to "; err == nil || !strings.Contains(string(out), want) || strings.Contains(string(out), "image ") {
			t.Errorf("labctl %v as nobody: %v: %s; want only a refusal containing %q", args, err, out, want)
		}
	}
}

// TestE2ESecondLabRefused: a second lab pointed at a running lab's namespace
// is refused, naming it, before anything is built or made, and the running
// lab is untouched: its checks pass again afterwards.
func TestE2ESecondLabRefused(t *testing.T) {
	e := newE2E(t, "pxe-smoke")
	ctx, cancel := e2eContext(t)
	defer cancel()
	out, err := e.run(ctx, "up", "pxe-smoke", "--provider", "qemu", "--netns", e.netns)
	t.Logf("labctl up pxe-smoke:\n%s", out)
	if err != nil {
		t.Fatalf("labctl up pxe-smoke: %v: %s", err, out)
	}
	// up's progress, phases and hints, as its printer renders them.
	for _, want := range []string{"image smoke: ", "lab pxe-smoke: provider qemu, namespace " + e.netns + ", state ", "accelerator: ",
		"bios1      check booted-bios-profile passed", "phases (median of 2 machines): dhcp ",
		"lab pxe-smoke is up and its 2 checks passed (namespace " + e.netns + ")", "take it down:      " + e.bin + " down pxe-smoke"} {
		if !strings.Contains(out, want) {
			t.Errorf("labctl up: output lacks %q", want)
		}
	}
	out, err = e.run(ctx, "up", "etcd3", "--provider", "qemu", "--netns", e.netns)
	if want := "network namespace " + e.netns + " already exists"; err == nil || !strings.Contains(out, want) || strings.Contains(out, "image ") {
		t.Errorf("a second lab in pxe-smoke's namespace: %v: %s; want only a refusal containing %q", err, out, want)
	}
	out, err = e.run(ctx, "verify", "pxe-smoke")
	if err != nil || !strings.Contains(out, "scenario pxe-smoke: all 2 checks passed") || !strings.Contains(out, "uefi1      check booted-uefi-profile passed") {
		t.Errorf("labctl verify pxe-smoke after the refused lab: %v: %s", err, out)
	}
	if out, err := e.run(ctx, "down", "pxe-smoke"); err != nil {
		t.Fatalf("labctl down: %v: %s", err, out)
	}
	e.assertNothingLeft(t)
}
