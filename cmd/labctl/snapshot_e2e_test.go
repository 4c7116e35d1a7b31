package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/lab/snapshot"
	"github.com/labctl/labctl/lab/state"
)

// testSnapshot saves the running etcd3 lab of TestE2EEtcd3, takes it down,
// restores it and verifies it: the scenario's checks pass, a key written
// before the save is there, a new write succeeds and the clocks are the
// host's. Around that: refusals (the lab up, its images changed or gone),
// a save and a restore killed with SIGKILL (down leaves nothing, the
// snapshot is whole or absent), and a second restore from the same
// snapshot that sees none of the first one's writes.
// It leaves the last restored lab up for the test's own down.
func testSnapshot(t *testing.T, ctx context.Context, e *e2eEnv) {
	name := fmt.Sprintf("e2e-%08x", rand.Uint32())
	root := snapshot.Root(e.stateDir)
	t.Cleanup(func() { e.run(context.Background(), "snapshot", "rm", name) })
	ssh := func(node, cmd string) string {
		t.Helper()
		return e.ssh(t, ctx, node, cmd)
	}
	ssh("node1", "etcdctl put snapshot-key before-save")

	begin := time.Now()
	out, err := e.run(ctx, "snapshot", "save", "etcd3", name)
	t.Logf("labctl snapshot save etcd3 %s (%s):\n%s", name, time.Since(begin).Round(time.Millisecond), out)
	if err != nil || !strings.Contains(out, "snapshot "+name+" of lab etcd3 saved in ") {
		t.Fatalf("snapshot save: %v", err)
	}
	saved := snapshotFiles(t, snapshot.Dir(root, name))
	// Refusals, while the lab is up: each says what is wrong.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "etcd3", "--from-snapshot", name}, "lab etcd3 is already up"},
		{[]string{"up", "etcd3", "--from-snapshot", name, "--netns", "labctl-other"}, "--netns labctl-other: snapshot " + name + " was saved with " + e.netns},
		{[]string{"up", "etcd3", "--from-snapshot", "no-such-snapshot"}, "no snapshot no-such-snapshot"},
		{[]string{"snapshot", "save", "etcd3", name}, "snapshot " + name + " exists"},
	} {
		if out, err := e.run(ctx, tc.args...); err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("labctl %s: %v: %s; want refused with %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
	t.Run("images-changed", func(t *testing.T) { testSnapshotImagesChanged(t, ctx, e, name) })
	out, err = e.run(ctx, "snapshot", "ls")
	t.Logf("labctl snapshot ls:\n%s", out)
	if err != nil || !strings.Contains(out, name+"  etcd3") || !strings.Contains(out, "labos") {
		t.Errorf("snapshot ls: %v:\n%s", err, out)
	}
	t.Run("kill-save", func(t *testing.T) { testSnapshotKillSave(t, ctx, e, name+"-killed") })
	if out, err := e.run(ctx, "down", "etcd3"); err != nil {
		t.Fatalf("labctl down: %v: %s", err, out)
	}
	e.assertNothingLeft(t)
	assertSnapshotWhole(t, root, name, saved)

	begin = time.Now()
	out, err = e.run(ctx, "up", "etcd3", "--from-snapshot", name)
	t.Logf("labctl up etcd3 --from-snapshot %s (%s):\n%s", name, time.Since(begin).Round(time.Millisecond), out)
	if err != nil || !strings.Contains(out, "lab etcd3 is up and its ") {
		// The lab process's log goes with the lab: show it here.
		log, _ := os.ReadFile(filepath.Join(e.labDir(), "labd.log"))
		t.Fatalf("up --from-snapshot: %v\nlabd.log:\n%s", err, log)
	}
	if log, err := os.ReadFile(filepath.Join(e.labDir(), "labd.log")); err == nil {
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "machine restored") {
				t.Log(line)
			}
		}
	}
	if got := ssh("node3", "etcdctl get snapshot-key --print-value-only"); got != "before-save" {
		t.Errorf("snapshot-key after restore = %q, want before-save", got)
	}
	ssh("node2", "etcdctl put snapshot-key first-restore")
	guest, err := strconv.ParseInt(ssh("node1", "date +%s"), 10, 64)
	if d := time.Since(time.Unix(guest, 0)); err != nil || d > 10*time.Second || d < -10*time.Second {
		t.Errorf("node1's clock is %v off the host's after restore (%v)", d, err)
	}
	if out, err := e.run(ctx, "down", "etcd3"); err != nil {
		t.Fatalf("labctl down: %v: %s", err, out)
	}
	e.assertNothingLeft(t)

	t.Run("kill-restore", func(t *testing.T) { testSnapshotKillRestore(t, ctx, e, name) })
	assertSnapshotWhole(t, root, name, saved)

	// The same golden snapshot again: the first restore's write is not
	// there. (labctl test --from-snapshot would run the scenario's fault
	// steps too, a minute more; docs/benchmarks.md records one such run.)
	begin = time.Now()
	out, err = e.run(ctx, "up", "etcd3", "--from-snapshot", name)
	t.Logf("labctl up etcd3 --from-snapshot %s, again (%s):\n%s", name, time.Since(begin).Round(time.Millisecond), out)
	if err != nil || !strings.Contains(out, "lab etcd3 is up and its 6 checks passed") {
		t.Fatalf("up --from-snapshot, again: %v", err)
	}
	if got := ssh("node3", "etcdctl get snapshot-key --print-value-only"); got != "before-save" {
		t.Errorf("second restore: snapshot-key = %q, want before-save (the first restore's write leaked into the snapshot)", got)
	}
	// Its machines write overlays of their own, not linked from anywhere.
	for _, node := range []string{"node1", "node2", "node3"} {
		dir := filepath.Join(e.labDir(), "machines", node)
		active, err := os.ReadFile(filepath.Join(dir, "disk.active"))
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dir, strings.TrimSpace(string(active))), &st); err != nil || st.Nlink != 1 {
			t.Errorf("%s writes %s with %d links (%v), want 1: its own", node, strings.TrimSpace(string(active)), st.Nlink, err)
		}
	}
	ssh("node2", "etcdctl put snapshot-key after-restore")
	// A restored lab runs on links to the snapshot's images, not on them.
	if out, err := e.run(ctx, "snapshot", "rm", name); err != nil {
		t.Fatalf("snapshot rm: %v: %s", err, out)
	}
	if got := ssh("node1", "etcdctl get snapshot-key --print-value-only"); got != "after-restore" {
		t.Errorf("after snapshot rm: snapshot-key = %q, want after-restore", got)
	}
}

// ssh runs cmd on node of the test's lab (labctl ssh) and returns its
// output, trimmed; a failure ends the test.
func (e *e2eEnv) ssh(t *testing.T, ctx context.Context, node, cmd string) string {
	t.Helper()
	out, err := e.run(ctx, "ssh", e.scenario, node, "--", cmd)
	if err != nil {
		t.Fatalf("labctl ssh %s %s -- %s: %v: %s", e.scenario, node, cmd, err, out)
	}
	return strings.TrimSpace(out)
}

// testSnapshotImagesChanged restores a snapshot whose image changes, then
// goes: each refusal names the image and what happened to it. The shared
// image cache is never touched: a copy of the snapshot's manifest names an
// image directory of the test's own, links to the cached image's files.
func testSnapshotImagesChanged(t *testing.T, ctx context.Context, e *e2eEnv, name string) {
	root := snapshot.Root(e.stateDir)
	raw, err := os.ReadFile(filepath.Join(snapshot.Dir(root, name), snapshot.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	imgs, _ := m["images"].([]any)
	if len(imgs) == 0 {
		t.Fatalf("snapshot %s records no images", name)
	}
	img := imgs[0].(map[string]any)
	imgName, cached := img["name"].(string), img["dir"].(string)
	own := filepath.Join(t.TempDir(), imgName)
	if err := os.Mkdir(own, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(cached)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range entries {
		if err := os.Symlink(filepath.Join(cached, f.Name()), filepath.Join(own, f.Name())); err != nil {
			t.Fatal(err)
		}
	}
	img["dir"] = own
	moved := name + "-moved"
	m["name"] = moved
	raw, _ = json.Marshal(m)
	if err := os.Mkdir(snapshot.Dir(root, moved), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(snapshot.Dir(root, moved)) })
	if err := os.WriteFile(filepath.Join(snapshot.Dir(root, moved), snapshot.ManifestName), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	refused := func(want string) {
		t.Helper()
		out, err := e.run(ctx, "up", "etcd3", "--from-snapshot", moved)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("labctl up etcd3 --from-snapshot %s: %v: %s; want refused with %q", moved, err, out, want)
		}
	}
	// As saved, the images pass: what stops it is the lab being up.
	refused("lab etcd3 is already up")
	vmlinuz := filepath.Join(own, "vmlinuz")
	os.Remove(vmlinuz)
	if err := os.WriteFile(vmlinuz, []byte("not the kernel saved\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused(fmt.Sprintf("snapshot %s cannot be restored: image %s in %s changed: file vmlinuz is not the one saved", moved, imgName, own))
	if err := os.RemoveAll(own); err != nil {
		t.Fatal(err)
	}
	refused(fmt.Sprintf("snapshot %s cannot be restored: image %s is gone (it was in %s)", moved, imgName, own))
	if out, err := e.run(ctx, "snapshot", "rm", moved); err != nil {
		t.Errorf("snapshot rm %s: %v: %s", moved, err, out)
	}
}

// testSnapshotKillSave kills `labctl snapshot save` while QEMU writes a
// machine's memory: no snapshot of that name exists, the next look at
// the snapshots sweeps what it left, and the lab (its machines left
// paused) is for the caller's down to remove.
func testSnapshotKillSave(t *testing.T, ctx context.Context, e *e2eEnv, name string) {
	root := snapshot.Root(e.stateDir)
	save := e.command(ctx, "snapshot", "save", "etcd3", name)
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- save.Wait() }()
	pattern := filepath.Join(root, "."+name+".tmp-*", snapshot.MachinesDir, "node1", "state")
	deadline := time.After(time.Minute)
	for {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			break
		}
		select {
		case err := <-ended:
			t.Fatalf("snapshot save ended (%v) before node1's state was seen being written", err)
		case <-deadline:
			save.Process.Kill()
			t.Fatalf("no %s within a minute", pattern)
		case <-time.After(5 * time.Millisecond):
		}
	}
	save.Process.Signal(syscall.SIGKILL)
	var exit *exec.ExitError
	if err := <-ended; !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("snapshot save: %v; want killed by SIGKILL mid-way", err)
	}
	if _, err := os.Stat(snapshot.Dir(root, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("snapshot %s exists after its save was killed (%v)", name, err)
	}
	out, err := e.run(ctx, "snapshot", "ls")
	if err != nil || strings.Contains(out, name) {
		t.Errorf("snapshot ls after a killed save: %v:\n%s", err, out)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "."+name+".tmp-*")); len(left) > 0 {
		t.Errorf("the killed save's temporary directory is left after snapshot ls: %v", left)
	}
}

// testSnapshotKillRestore kills `labctl up --from-snapshot` and its lab
// process once a machine's QEMU is loading its saved state; down then
// removes everything the restore made.
func testSnapshotKillRestore(t *testing.T, ctx context.Context, e *e2eEnv, name string) {
	up := e.command(ctx, "up", "etcd3", "--from-snapshot", name)
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- up.Wait() }()
	deadline := time.After(time.Minute)
	var st *state.State
	for {
		if s, err := state.Load(e.labDir()); err == nil && s.Pids["qemu/node1"] != 0 && s.Pids["labd"] != 0 {
			st = s
			break
		}
		select {
		case err := <-ended:
			t.Fatalf("up --from-snapshot ended (%v) before node1's QEMU was seen", err)
		case <-deadline:
			up.Process.Kill()
			t.Fatalf("no QEMU for node1 within a minute")
		case <-time.After(5 * time.Millisecond):
		}
	}
	syscall.Kill(st.Pids["labd"], syscall.SIGKILL)
	up.Process.Signal(syscall.SIGKILL)
	<-ended
	out, err := e.run(ctx, "down", "etcd3")
	if err != nil {
		t.Fatalf("labctl down after a killed restore: %v: %s", err, out)
	}
	e.assertNothingLeft(t)
}

// snapshotFiles lists a snapshot's files with their size and modification
// time: a snapshot is whole when the list is the one it was saved with.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = fmt.Sprintf("%d bytes, %s", info.Size(), info.ModTime().UTC().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return files
}

func assertSnapshotWhole(t *testing.T, root, name string, saved map[string]string) {
	t.Helper()
	now := snapshotFiles(t, snapshot.Dir(root, name))
	for f, was := range saved {
		if now[f] != was {
			t.Errorf("snapshot %s: %s is %q, saved as %q", name, f, now[f], was)
		}
	}
	for f := range now {
		if _, ok := saved[f]; !ok {
			t.Errorf("snapshot %s: %s appeared after the save", name, f)
		}
	}
}

// testSnapshotRestores saves the converged lab the test brought up, takes
// it down and restores it: the scenario's checks, among them those named in
// wants, pass again on the restored machines. The restored lab is left up
// for the rest of the test, which then proves on it what it proves on a
// booted one. It returns the snapshot's name (removed when the test ends).
func testSnapshotRestores(t *testing.T, ctx context.Context, e *e2eEnv, wants ...string) string {
	name := fmt.Sprintf("e2e-%08x", rand.Uint32())
	t.Cleanup(func() { e.run(context.Background(), "snapshot", "rm", name) })
	begin := time.Now()
	out, err := e.run(ctx, "snapshot", "save", e.scenario, name)
	t.Logf("labctl snapshot save %s %s (%s):\n%s", e.scenario, name, time.Since(begin).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("snapshot save: %v", err)
	}
	if out, err := e.run(ctx, "down", e.scenario); err != nil {
		t.Fatalf("labctl down: %v: %s", err, out)
	}
	e.assertNothingLeft(t)
	begin = time.Now()
	out, err = e.run(ctx, "up", e.scenario, "--from-snapshot", name)
	t.Logf("labctl up %s --from-snapshot %s (%s):\n%s", e.scenario, name, time.Since(begin).Round(time.Millisecond), out)
	if err != nil || !strings.Contains(out, "lab "+e.scenario+" is up and its ") {
		t.Fatalf("up --from-snapshot: %v", err)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("up --from-snapshot ran no %q", want)
		}
	}
	if log, err := os.ReadFile(filepath.Join(e.labDir(), "labd.log")); err == nil {
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "machine restored") {
				t.Log(line)
			}
		}
	}
	out, _ = e.run(ctx, "snapshot", "ls")
	t.Logf("labctl snapshot ls:\n%s", out)
	return name
}
