package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testSnapshot saves the running etcd3 lab of TestE2EEtcd3, takes it down,
// restores it and verifies it: the scenario's checks pass, a key written
// before the save is there, a new write succeeds and the clocks are the
// host's. It leaves the restored lab up for the test's own down.
func testSnapshot(t *testing.T, ctx context.Context, e *e2eEnv) {
	name := fmt.Sprintf("e2e-%08x", rand.Uint32())
	t.Cleanup(func() { e.run(context.Background(), "snapshot", "rm", name) })
	ssh := func(node, cmd string) string {
		t.Helper()
		out, err := e.run(ctx, "ssh", "etcd3", node, "--", cmd)
		if err != nil {
			t.Fatalf("labctl ssh etcd3 %s -- %s: %v: %s", node, cmd, err, out)
		}
		return strings.TrimSpace(out)
	}
	ssh("node1", "etcdctl put snapshot-key before-save")

	begin := time.Now()
	out, err := e.run(ctx, "snapshot", "save", "etcd3", name)
	t.Logf("labctl snapshot save etcd3 %s (%s):\n%s", name, time.Since(begin).Round(time.Millisecond), out)
	if err != nil || !strings.Contains(out, "snapshot "+name+" of lab etcd3 saved in ") {
		t.Fatalf("snapshot save: %v", err)
	}
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
	out, err = e.run(ctx, "snapshot", "ls")
	t.Logf("labctl snapshot ls:\n%s", out)
	if err != nil || !strings.Contains(out, name+"  etcd3") || !strings.Contains(out, "labos") {
		t.Errorf("snapshot ls: %v:\n%s", err, out)
	}
	if out, err := e.run(ctx, "down", "etcd3"); err != nil {
		t.Fatalf("labctl down: %v: %s", err, out)
	}
	e.assertNothingLeft(t)

	begin = time.Now()
	out, err = e.run(ctx, "up", "etcd3", "--from-snapshot", name)
	t.Logf("labctl up etcd3 --from-snapshot %s (%s):\n%s", name, time.Since(begin).Round(time.Millisecond), out)
	if err != nil || !strings.Contains(out, "lab etcd3 is up and its ") {
		t.Fatalf("up --from-snapshot: %v", err)
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
	ssh("node2", "etcdctl put snapshot-key after-restore")
	guest, err := strconv.ParseInt(ssh("node1", "date +%s"), 10, 64)
	if d := time.Since(time.Unix(guest, 0)); err != nil || d > 10*time.Second || d < -10*time.Second {
		t.Errorf("node1's clock is %v off the host's after restore (%v)", d, err)
	}
	// A restored lab runs on links to the snapshot's images, not on them.
	if out, err := e.run(ctx, "snapshot", "rm", name); err != nil {
		t.Fatalf("snapshot rm: %v: %s", err, out)
	}
	if got := ssh("node1", "etcdctl get snapshot-key --print-value-only"); got != "after-restore" {
		t.Errorf("after snapshot rm: snapshot-key = %q, want after-restore", got)
	}
}
