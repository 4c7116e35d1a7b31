package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testFaults runs etcd3's fault steps on the lab TestE2EEtcd3 brought up
// (node3 partitioned off: the majority writes, node3 refuses a
// linearizable read, then catches up once healed; node2 frozen: the
// quorum still writes, then all three are healthy; etcd stopped on node1:
// node2 writes, node1 reads it once started again; node2's link at 30%
// loss: every write acknowledged through it is read through node3), then a fault by hand
// (node2's link down): refused naming the flag, injected and proven,
// listed by status, healed; and a BMC fault on node3, armed in the lab
// process's virtual BMC and healed.
func testFaults(t *testing.T, ctx context.Context, e *e2eEnv) {
	junit := filepath.Join(t.TempDir(), "junit.xml")
	out, err := e.run(ctx, "verify", "etcd3", "--steps", "--junit", junit)
	t.Logf("labctl verify etcd3 --steps:\n%s", out)
	if err != nil {
		t.Fatalf("labctl verify etcd3 --steps: %v", err)
	}
	for _, want := range []string{
		"step isolate-node3: fault partition node3 took effect",
		"node3      check isolate-node3/minority-refuses passed",
		"node1      check isolate-node3/majority-writes passed",
		"node3      check isolate-node3/minority-catches-up passed",
		"step pause-node2: fault pause node2 took effect",
		"step stop-etcd-node1: fault service-stop node1 unit etcd.service took effect",
		"node1      check stop-etcd-node1/node1-reads passed",
		"step lossy-node2: fault loss node2 30% took effect",
		"node1      check lossy-node2/quorum-acks-writes passed",
		"node2      check lossy-node2/acked-writes-readable passed",
		"scenario etcd3: all 4 steps passed (recovery: isolate-node3 ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify --steps: output lacks %q", want)
		}
	}
	raw, _ := os.ReadFile(junit)
	if !regexp.MustCompile(`<testcase name="step/isolate-node3" classname="etcd3" time="[0-9.]+"`).Match(raw) ||
		!strings.Contains(string(raw), `failures="0"`) {
		t.Errorf("junit.xml does not record the passed steps with their recovery times:\n%s", raw)
	}

	out, err = e.run(ctx, "fault", "etcd3", "inject", "link-down", "--machines", "node9")
	if err == nil || !strings.Contains(out, `--machines: no machine named "node9"`) {
		t.Errorf("fault inject on node9: %v, %s; want a refusal naming --machines", err, out)
	}
	out, err = e.run(ctx, "fault", "etcd3", "inject", "link-down", "--machines", "node2")
	if err != nil || !strings.Contains(out, "fault link-down-node2: link-down node2 took effect") {
		t.Fatalf("fault inject link-down: %v: %s", err, out)
	}
	if s, err := e.status(ctx); err != nil || len(s.Faults) != 1 || s.Faults[0].ID != "link-down-node2" {
		t.Errorf("status lists faults %+v (%v); want link-down-node2", s.Faults, err)
	}
	out, err = e.run(ctx, "fault", "etcd3", "heal", "link-down-node2")
	if err != nil || !strings.Contains(out, "fault link-down-node2 healed") {
		t.Fatalf("fault heal: %v: %s", err, out)
	}
	if s, err := e.status(ctx); err != nil || len(s.Faults) != 0 {
		t.Errorf("status after heal lists faults %+v (%v); want none", s.Faults, err)
	}
	// A BMC fault is armed in the lab process's own virtual BMC of node3
	// (its fault API on the lab's socket), listed, and healed.
	out, err = e.run(ctx, "fault", "etcd3", "inject", "bmc-error", "--machines", "node3", "--requests", "2")
	if err != nil || !strings.Contains(out, "fault bmc-error-node3: bmc-error node3 for 2 requests took effect") {
		t.Fatalf("fault inject bmc-error: %v: %s", err, out)
	}
	if out, err := e.run(ctx, "fault", "etcd3", "list"); err != nil || !strings.Contains(out, "bmc-error-node3") {
		t.Errorf("fault list: %v: %s", err, out)
	}
	if out, err := e.run(ctx, "fault", "etcd3", "heal", "bmc-error-node3"); err != nil || !strings.Contains(out, "fault bmc-error-node3 healed") {
		t.Errorf("fault heal bmc-error: %v: %s", err, out)
	}
	// node2, its cable back, answers again.
	if out, err := e.run(ctx, "ssh", "etcd3", "node2", "--", "etcdctl", "--command-timeout=10s", "get", "--print-value-only", "labctl-step"); err != nil || !strings.Contains(out, "written-while-node1-stopped") {
		t.Errorf("node2 after its link came back: %v: %s", err, out)
	}
}
