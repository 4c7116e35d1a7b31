package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/labctl/labctl/lab/snapshot"
	"github.com/labctl/labctl/lab/state"
)

// testSnapshotInstalled saves the installed lab of TestE2EEtcd3Install
// (libvirt provider; machines running from their installed disks, node2
// under UEFI with its NVRAM), takes it down and restores it through the
// CLI: the scenario's checks pass again, among them node2's reboot from
// its new overlay and its NVRAM; a key written before the save reads back
// and a new write succeeds. The restored lab is left up for the test's own
// down, which must leave nothing.
func testSnapshotInstalled(t *testing.T, ctx context.Context, e *e2eEnv) {
	e.ssh(t, ctx, "node1", "etcdctl put snapshot-key before-save")
	name := testSnapshotRestores(t, ctx, e, "check ready-from-disk passed", "check root-on-disk passed", "check survives-reboot passed")
	if got := e.ssh(t, ctx, "node3", "etcdctl get snapshot-key --print-value-only"); got != "before-save" {
		t.Errorf("snapshot-key after restore = %q, want before-save", got)
	}
	e.ssh(t, ctx, "node2", "etcdctl put snapshot-key after-restore")
	if got := e.ssh(t, ctx, "node1", "etcdctl get snapshot-key --print-value-only"); got != "after-restore" {
		t.Errorf("snapshot-key after a write on the restored lab = %q, want after-restore", got)
	}
	if s, err := state.Load(e.labDir()); err != nil {
		t.Error(err)
	} else if s.Provider != "libvirt" {
		t.Errorf("restored lab's provider is %q, want libvirt", s.Provider)
	}

	// The listing names it, its lab, provider, image and machines.
	out, err := e.run(ctx, "snapshot", "ls")
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+etcd3-install\s+etcd3-install\s+libvirt\s+labos\s+3\s+[0-9.]+[MG]\s+\S+$`)
	if err != nil || !row.MatchString(out) {
		t.Errorf("snapshot ls: %v; want a row %s:\n%s", err, row, out)
	}
	// Per machine, for docs/benchmarks.md: the save image (memory and
	// devices) and the chain the save froze.
	for _, node := range []string{"node1", "node2", "node3"} {
		dir := snapshot.MachineDir(snapshot.Dir(snapshot.Root(e.stateDir), name), node)
		n, err := snapshot.DiskUsage(dir)
		if err != nil {
			t.Errorf("snapshot %s: %s: %v", name, node, err)
			continue
		}
		entries, _ := os.ReadDir(dir)
		var files []string
		for _, f := range entries {
			files = append(files, f.Name())
		}
		t.Logf("snapshot %s, %s: %d MiB on disk in %s: %v", name, node, n>>20, filepath.Base(dir), files)
	}
}
