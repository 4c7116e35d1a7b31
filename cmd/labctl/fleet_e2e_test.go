package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/state"
)

// TestE2EReprovisionFleet reprovisions every machine of a running lab with
// --parallel through BMC endpoints an inventory lists for them (the lab's
// virtual BMCs: bios1 over IPMI, uefi1 over Redfish with a wrong password).
// uefi1 fails by name, untouched; bios1 boots from the network and passes
// the scenario's checks; the verdicts come out as JSON and JUnit and the
// exit status is non-zero.
func TestE2EReprovisionFleet(t *testing.T) {
	ctx, cancel := e2eContext(t)
	defer cancel()
	b := upBMCLab(t, ctx)
	bios, biosBMC := b.machine(t, "bios1")
	uefi, uefiBMC := b.machine(t, "uefi1")
	for _, name := range []string{"bios1", "uefi1"} {
		b.waitPower(t, name, power.Off, 2*time.Minute)
	}
	dir := t.TempDir()
	wrong := filepath.Join(dir, "uefi1-password")
	if err := os.WriteFile(wrong, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "inventory.yaml")
	redfishBase, _, _ := strings.Cut(uefiBMC.BMC.Redfish, "/redfish/")
	if err := os.WriteFile(inv, []byte(fmt.Sprintf(`machines:
  - name: bios1
    mac: %s
    uuid: %s
    bmc:
      - {protocol: ipmi, address: "%s", username: admin, password_file: %s}
  - name: uefi1
    mac: %s
    uuid: %s
    bmc:
      - {protocol: redfish, address: "%s", username: admin, password_file: %s, ca_file: %s}
`, bios.MAC, bios.UUID, biosBMC.BMC.IPMI, biosBMC.BMC.PasswordFile, uefi.MAC, uefi.UUID, redfishBase, wrong, b.status.CAFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	junitPath := filepath.Join(dir, "junit.xml")
	since := time.Now()
	cmd := b.e.command(ctx, "reprovision", "pxe-smoke", "--all", "--parallel", "2", "--inventory", inv, "-o", "json", "--junit", junitPath, "--timeout", "5m")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("labctl reprovision:\n%s\nstderr:\n%s", out, stderr.String())
	if err == nil {
		t.Fatal("exit status 0 with a machine whose BMC refused its credentials")
	}
	var rep reprovision.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("-o json: %v", err)
	}
	if len(rep.Verdicts) != 2 {
		t.Fatalf("%d verdicts, want 2", len(rep.Verdicts))
	}
	ok, bad := rep.Verdicts[0], rep.Verdicts[1]
	if ok.Machine != "bios1" || ok.Result != reprovision.Passed || ok.Phase != reprovision.PhaseDone || ok.Seconds <= 0 || ok.Error != "" {
		t.Errorf("bios1's verdict %+v, want passed, done", ok)
	}
	if len(ok.Checks) != 1 || ok.Checks[0].Check != "booted-bios-profile" || ok.Checks[0].Status != "passed" {
		t.Errorf("bios1's checks %+v, want booted-bios-profile passed", ok.Checks)
	}
	if bad.Machine != "uefi1" || bad.Result != reprovision.Failed || bad.Phase != reprovision.PhaseBootDevice {
		t.Errorf("uefi1's verdict %+v, want failed at boot-device", bad)
	}
	for _, want := range []string{"uefi1", "redfish " + redfishBase, "credentials"} {
		if !strings.Contains(bad.Error, want) {
			t.Errorf("uefi1's error lacks %q: %s", want, bad.Error)
		}
	}
	if strings.Contains(string(out)+stderr.String(), b.password(t)) {
		t.Errorf("output holds the real password")
	}
	if !strings.Contains(stderr.String(), "check booted-bios-profile on bios1: passed") {
		t.Errorf("no progress line for bios1's check on stderr")
	}
	// bios1 really booted from the network; uefi1 did not.
	b.waitBooted(t, bios, since)
	if ev := b.events(t, uefi, bootlog.KindIPXE, since); len(ev) != 0 {
		t.Errorf("uefi1 booted from the network after its BMC refused: %v", ev)
	}

	raw, err := os.ReadFile(junitPath)
	if err != nil {
		t.Fatalf("--junit: %v", err)
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Body string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, raw)
	}
	if len(doc.Suites) != 2 || doc.Suites[0].Name != "reprovision pxe-smoke" || doc.Suites[0].Tests != 2 || doc.Suites[0].Failures != 1 ||
		doc.Suites[0].Cases[1].Failure == nil || !strings.Contains(doc.Suites[0].Cases[1].Failure.Body, "uefi1") {
		t.Errorf("junit.xml: want a suite of 2 machines with uefi1 failed, then the checks after bios1:\n%s", raw)
	}
	if len(doc.Suites) == 2 && (doc.Suites[1].Failures != 0 || doc.Suites[1].Tests != 2) {
		t.Errorf("junit.xml: checks after bios1: want 2 passed:\n%s", raw)
	}
}

// testRollingReprovision runs a rolling reprovision of a running etcd3
// cluster through the BMC endpoints an inventory lists for it (the lab's
// virtual BMCs: node1 over IPMI, node2 over Redfish, node3 over both),
// node2's password wrong: the run stops at node2, naming it and the
// refused credentials, and leaves node3 alone. (The rolling run of the
// whole cluster with a writer running throughout is on the simulated
// rack's servers, the stricter path: testRackReprovision.)
//
// It runs on TestE2EEtcd3's lab (up and verified), sparing the suite a
// second etcd3 boot.
func testRollingReprovision(t *testing.T, ctx context.Context, e *e2eEnv) {
	st, err := state.Load(filepath.Join(e.stateDir, "etcd3"))
	if err != nil {
		t.Fatal(err)
	}
	status, err := e.status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := st.Lab
	dir := t.TempDir()
	wrong := filepath.Join(dir, "wrong-password")
	if err := os.WriteFile(wrong, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("machines:\n")
	for i, m := range l.Machines {
		bm := status.Machines[i].BMC
		pw := bm.PasswordFile
		if m.Name == "node2" {
			pw = wrong
		}
		redfish, _, _ := strings.Cut(bm.Redfish, "/redfish/")
		ipmi := fmt.Sprintf("      - {protocol: ipmi, address: %q, username: admin, password_file: %s}\n", bm.IPMI, pw)
		rf := fmt.Sprintf("      - {protocol: redfish, address: %q, username: admin, password_file: %s, ca_file: %s}\n", redfish, pw, status.CAFile)
		fmt.Fprintf(&b, "  - name: %s\n    mac: %s\n    uuid: %s\n    address: %s\n    bmc:\n", m.Name, m.MAC, m.UUID, m.IP)
		switch i {
		case 0:
			b.WriteString(ipmi)
		case 1:
			b.WriteString(rf)
		default:
			b.WriteString(ipmi + rf)
		}
	}
	inventory := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(inventory, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := e.run(ctx, "reprovision", "etcd3", "node2", "node3", "--rolling", "--inventory", inventory, "--timeout", "5m")
	t.Logf("labctl reprovision --rolling, node2's password wrong:\n%s", out)
	if err == nil {
		t.Fatal("a rolling run with a refused BMC succeeded")
	}
	for _, want := range []string{"node2: FAILED at boot-device", "node3: not run: not reprovisioned: rolling stopped at node2: node2: set boot device pxe once", "credentials"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// writer puts a key through all of a lab's etcd members, from a namespace
// that reaches them, every half second, until stopped.
type writer struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	mu     sync.Mutex // out is written by exec's copying goroutine
	out    bytes.Buffer
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

// startWriter starts the writer in namespace ns and waits for its first
// successful put.
func startWriter(t *testing.T, ctx context.Context, l *lab.Lab, ns string) *writer {
	t.Helper()
	var endpoints []string
	for _, m := range l.Machines {
		endpoints = append(endpoints, "https://"+m.IP.String()+":2379")
	}
	pki := l.PKIDir()
	script := `i=0; while :; do i=$((i+1)); t=$(date +%s.%N)
if out=$(etcdctl --dial-timeout=2s --command-timeout=4s put labctl-writer "$i" 2>&1); then echo "$t ok $i"; else echo "$t fail $i $(echo $out | tr '\n' ' ')"; fi
sleep 0.5; done`
	wctx, cancel := context.WithCancel(ctx)
	w := &writer{cancel: cancel}
	w.cmd = netns.Command(wctx, ns, "sh", "-c", script)
	w.cmd.Env = append(os.Environ(), "ETCDCTL_API=3", "ETCDCTL_ENDPOINTS="+strings.Join(endpoints, ","),
		"ETCDCTL_CACERT="+filepath.Join(pki, "ca.crt"), "ETCDCTL_CERT="+filepath.Join(pki, "etcd-node1.crt"), "ETCDCTL_KEY="+filepath.Join(pki, "etcd-node1.key"))
	w.cmd.Stdout, w.cmd.Stderr = w, w
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w.cmd.Cancel = func() error { return syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL) }
	if err := w.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("writer: %v", err)
	}
	t.Cleanup(func() { w.stop(t) })
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(w.snapshot(), " ok ") {
		if time.Now().After(deadline) {
			t.Fatalf("writer: no successful put within a minute:\n%s", w.snapshot())
		}
		time.Sleep(500 * time.Millisecond)
	}
	return w
}

func (w *writer) snapshot() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// stop ends the writer (once) and returns its record.
func (w *writer) stop(t *testing.T) writeLog {
	t.Helper()
	if w.cancel != nil {
		w.cancel()
		w.cmd.Wait()
		w.cancel = nil
	}
	return writeLog(w.snapshot())
}

// writeLog is the writer's output: "TIME ok|fail N [error]" per put.
type writeLog string

// summary counts the puts that succeeded and failed, the stretches of
// consecutive failures and the longest stretch's duration.
func (wl writeLog) summary() (ok, failed, stretches int, longest time.Duration) {
	var start float64
	inStretch := false
	for _, line := range strings.Split(strings.TrimSpace(string(wl)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var at float64
		fmt.Sscan(f[0], &at)
		switch f[1] {
		case "ok":
			ok++
			if inStretch {
				longest = max(longest, time.Duration((at-start)*float64(time.Second)))
			}
			inStretch = false
		case "fail":
			failed++
			if !inStretch {
				stretches++
				start, inStretch = at, true
			}
		}
	}
	return ok, failed, stretches, longest
}
