package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2EEtcd3Install is the project's core promise: three machines
// PXE-boot, install labos to disk, reboot from it, and form an etcd cluster
// that labctl verifies over SSH.
func TestE2EEtcd3Install(t *testing.T) {
	e := newE2E(t, "etcd3-install")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	art := t.TempDir()
	out, err := e.run(ctx, "test", "etcd3-install", "--provider", "qemu", "--netns", e.netns, "--artifacts", art)
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
	e.assertNothingLeft(t)
}

// TestE2EBrokenScenarioIsDiagnosed runs etcd3 with a wrong initial cluster
// on node1: the run must fail, and say which check failed on which node.
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

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	art := t.TempDir()
	out, err := e.run(ctx, "test", dir, "--provider", "qemu", "--netns", e.netns, "--artifacts", art)
	t.Logf("labctl test (broken etcd3):\n%s", out)
	if err == nil {
		t.Fatal("labctl test passed a scenario with a wrong initial cluster")
	}
	if want := `check "members-started" on node1 failed`; !strings.Contains(out, want) {
		t.Errorf("output lacks the diagnosis %q", want)
	}
	junit, _ := os.ReadFile(filepath.Join(art, "junit.xml"))
	if !strings.Contains(string(junit), `<testcase name="members-started/node1"`) || !strings.Contains(string(junit), "<failure") {
		t.Errorf("junit.xml does not record the failed check:\n%s", junit)
	}
	e.assertNothingLeft(t)
}
