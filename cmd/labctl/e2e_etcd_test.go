package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestE2EEtcd3Install is the project's core promise: three machines
// PXE-boot, install labos to disk, reboot from it, and form an etcd cluster
// that labctl verifies over SSH. The lab is then kept up to reprovision two
// of its machines through their virtual BMCs, one over IPMI and one over
// Redfish: each boots from the network once, installs anew, comes back from
// its disk and rejoins the cluster, whose checks pass again. Then the lab
// is saved, taken down and restored (snapshot). On the libvirt provider:
// TestE2EEtcd3 proves the rest on QEMU.
func TestE2EEtcd3Install(t *testing.T) {
	e := newE2E(t, "etcd3-install")
	ctx, cancel := e2eContext(t)
	defer cancel()
	art := t.TempDir()
	out, err := e.run(ctx, "test", "etcd3-install", "--provider", "libvirt", "--netns", e.netns, "--artifacts", art, "--keep")
	t.Logf("labctl test etcd3-install:\n%s", out)
	if err != nil {
		t.Fatalf("labctl test etcd3-install: %v", err)
	}
	for _, node := range []string{"node1", "node2", "node3"} {
		if !strings.Contains(out, node+"      report installed") {
			t.Errorf("%s never reported its install", node)
		}
	}
	junit, _ := os.ReadFile(filepath.Join(art, "junit.xml"))
	if !strings.Contains(string(junit), `failures="0" skipped="0"`) || !strings.Contains(string(junit), "root-on-disk/node1") {
		t.Errorf("junit.xml does not record passed install checks:\n%s", junit)
	}
	// libvirt's own logs, where a QEMU that died is explained, are artifacts too.
	for _, f := range []string{"libvirt/libvirtd.log", "libvirt/log/qemu/node1.log"} {
		if _, err := os.Stat(filepath.Join(art, f)); err != nil {
			t.Errorf("artifacts lack %s: %v", f, err)
		}
	}

	for _, tc := range []struct{ node, protocol string }{{"node1", "ipmi"}, {"node3", "redfish"}} {
		out, err := e.run(ctx, "reprovision", "etcd3-install", tc.node, "--protocol", tc.protocol)
		t.Logf("labctl reprovision etcd3-install %s --protocol %s:\n%s", tc.node, tc.protocol, out)
		if err != nil {
			t.Fatalf("reprovision %s through %s: %v", tc.node, tc.protocol, err)
		}
		// Report checks count only what the machine reported after its power
		// cycle: a new install, then a boot from the disk.
		for _, want := range []string{"check installed on " + tc.node + ": passed", "check ready-from-disk on " + tc.node + ": passed", "scenario etcd3-install: all "} {
			if !strings.Contains(out, want) {
				t.Errorf("reprovision %s: output lacks %q", tc.node, want)
			}
		}
	}
	t.Run("snapshot", func(t *testing.T) { testSnapshotInstalled(t, ctx, e) })
	if out, err := e.run(ctx, "down", "etcd3-install"); err != nil {
		t.Fatalf("labctl down: %v: %s", err, out)
	}
	e.assertNothingLeft(t)
}

// TestE2EBrokenScenarioIsDiagnosed runs etcd3 with a wrong initial cluster
// on node1: the run must fail as soon as etcd says why (the check's
// fail_matches), and say which check failed on which node.
func TestE2EBrokenScenarioIsDiagnosed(t *testing.T) {
	e := newE2E(t, "etcd3")
	dir := filepath.Join(t.TempDir(), "etcd3-broken")
	if err := os.CopyFS(dir, os.DirFS("../../scenarios/etcd3")); err != nil {
		t.Fatal(err)
	}
	edit := func(name, old, new string) {
		t.Helper()
		p := filepath.Join(dir, name)
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), old) {
			t.Fatalf("%s lacks %q: the test no longer breaks the scenario", name, old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(raw), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// node1 believes in a two-member cluster, node2 and node3 in three.
	edit("data/groups/node1.json", `["node1", "node2", "node3"]`, `["node1", "node2"]`)
	edit("scenario.yaml", "deadline: 10m", "deadline: 6m")

	ctx, cancel := e2eContext(t)
	defer cancel()
	art := t.TempDir()
	out, err := e.run(ctx, "test", dir, "--provider", "qemu", "--netns", e.netns, "--artifacts", art)
	t.Logf("labctl test (broken etcd3):\n%s", out)
	if err == nil {
		t.Fatal("labctl test passed a scenario with a wrong initial cluster")
	}
	for _, want := range []string{`check "members-started" on node1 failed`, "cluster ID mismatch"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks the diagnosis %q", want)
		}
	}
	// The failing machine's console end, as a run in CI shows nothing else.
	if !regexp.MustCompile(`serial log \S+/machines/node1/serial\.log, last lines:\n  \| \S`).MatchString(out) {
		t.Errorf("output lacks the end of node1's serial log")
	}
	junit, _ := os.ReadFile(filepath.Join(art, "junit.xml"))
	if !strings.Contains(string(junit), `<testcase name="members-started/node1"`) || !strings.Contains(string(junit), "<failure") {
		t.Errorf("junit.xml does not record the failed check:\n%s", junit)
	}
	e.assertNothingLeft(t)
}

// TestE2EEtcd3 is the README's main job: `labctl up etcd3` (three live
// machines forming an etcd cluster, checked over SSH), verified again,
// its status and its serial console, a rolling reprovision stopped by a
// BMC that refuses its credentials, then down. (The rolling reprovision of
// the whole cluster with a writer running is TestE2ERackSim's, on the
// simulated rack's servers.)
func TestE2EEtcd3(t *testing.T) {
	e := newE2E(t, "etcd3")
	ctx, cancel := e2eContext(t)
	defer cancel()
	out, err := e.run(ctx, "up", "etcd3", "--provider", "qemu", "--netns", e.netns)
	t.Logf("labctl up etcd3:\n%s", out)
	if err != nil {
		t.Fatalf("labctl up etcd3: %v", err)
	}
	if !strings.Contains(out, "lab etcd3 is up and its ") {
		t.Errorf("up does not say the lab is up")
	}
	if !strings.Contains(out, "phases (median of 3 machines): dhcp ") {
		t.Errorf("up does not say where the time went")
	}
	out, err = e.run(ctx, "verify", "etcd3")
	t.Logf("labctl verify etcd3:\n%s", out)
	if err != nil || !strings.Contains(out, "scenario etcd3: all ") {
		t.Fatalf("labctl verify etcd3: %v", err)
	}
	if s, err := e.status(ctx); err != nil || s.Phase != "running" || len(s.Missing) > 0 {
		t.Errorf("status %+v, %v; want running, nothing missing", s, err)
	}
	t.Run("console", func(t *testing.T) { e.testConsole(t, ctx, "node1") })
	t.Run("rolling-reprovision", func(t *testing.T) { testRollingReprovision(t, ctx, e) })
	t.Run("faults", func(t *testing.T) { testFaults(t, ctx, e) })
	t.Run("snapshot", func(t *testing.T) { testSnapshot(t, ctx, e) })
	t.Run("reset-by-hand", func(t *testing.T) { testResetByHand(t, ctx, e) })
	if out, err := e.run(ctx, "down", "etcd3"); err != nil {
		t.Fatalf("labctl down: %v: %s", err, out)
	}
	e.assertNothingLeft(t)
}

// TestE2EEtcdLarge: five live machines, three etcd members and two gRPC
// proxies, verified through the proxies.
func TestE2EEtcdLarge(t *testing.T) {
	e := newE2E(t, "etcd-large")
	ctx, cancel := e2eContext(t)
	defer cancel()
	art := t.TempDir()
	out, err := e.run(ctx, "test", "etcd-large", "--provider", "qemu", "--netns", e.netns, "--artifacts", art)
	t.Logf("labctl test etcd-large:\n%s", out)
	if err != nil {
		t.Fatalf("labctl test etcd-large: %v", err)
	}
	junit, _ := os.ReadFile(filepath.Join(art, "junit.xml"))
	if !strings.Contains(string(junit), `failures="0" skipped="0"`) {
		t.Errorf("junit.xml does not record passed checks:\n%s", junit)
	}
	// node3 booted labos under Secure Boot through the signed chain, never
	// through iPXE (which its firmware would refuse).
	for _, want := range []string{`node3 +TFTP \S*/shimx64.efi\n`, `node3 +TFTP \S*/grubx64.efi\n`, `node3 +TFTP \S*/assets/labos/initrd.img\n`, `node3 +check secure-boot-enforced passed`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks /%s/", want)
		}
	}
	if regexp.MustCompile(`node3 +(ipxe script|TFTP \S*/ipxe.efi)`).MatchString(out) {
		t.Error("node3 was booted through iPXE")
	}
	e.assertNothingLeft(t)
}
