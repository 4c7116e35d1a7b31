package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/lab/dashboard"
	"github.com/labctl/labctl/lab/netns"
)

// testFaults runs etcd3's own fault step (node2 frozen: the quorum still
// writes, then all three are healthy) and, on the same lab, the steps of
// the scenarios based on it: etcd3-partition (node3 cut off: the majority
// writes, node3 refuses a linearizable read, then catches up to the
// majority's revision) and etcd3-chaos (a writer on node1 while the
// leader's etcd is killed, node2's link loses 30%, then holds its frames
// 200 ms ± 20, then reorders them (a quarter overtaking the rest held 50
// ms), a fifth of the frames to node3 are sent twice, and node3 is
// power-cycled through its BMC: every acknowledged write reads back) and
// etcd3-disk (node3's disk fails its I/O: the quorum writes, node3's guest
// sees I/O errors; healed, its disk writes again). Then a fault by hand
// (node2's link down): refused naming the flag, injected and proven,
// listed by status, healed; and a BMC fault on node3, armed in the lab
// process's virtual BMC and healed; both on the lab's timeline.
func testFaults(t *testing.T, ctx context.Context, e *e2eEnv) {
	// Steps only of a scenario based on the lab's: refused, naming the flag.
	out, err := e.run(ctx, "verify", "etcd3", "--steps-from", "k8s-worker-loss")
	if err == nil || !strings.Contains(out, "--steps-from: scenario k8s-worker-loss does not run on lab etcd3") {
		t.Errorf("verify etcd3 --steps-from k8s-worker-loss: %v, %s; want a refusal naming --steps-from", err, out)
	}
	junit := filepath.Join(t.TempDir(), "junit.xml")
	out, err = e.run(ctx, "verify", "etcd3", "--steps", "--steps-from", "etcd3-partition,etcd3-chaos,etcd3-disk", "--junit", junit)
	t.Logf("labctl verify etcd3 --steps --steps-from etcd3-partition,etcd3-chaos,etcd3-disk:\n%s", out)
	if err != nil {
		t.Fatalf("labctl verify etcd3 --steps --steps-from etcd3-partition,etcd3-chaos,etcd3-disk: %v", err)
	}
	for _, want := range []string{
		"step pause-node2: fault pause node2 took effect",
		"scenario etcd3: all 1 steps passed (recovery: pause-node2 ",
		"step isolate-node3: fault partition node3 took effect",
		"node3      check isolate-node3/minority-refuses passed",
		"node1      check isolate-node3/majority-writes passed",
		"node3      check isolate-node3/minority-catches-up passed",
		"node3      check isolate-node3/minority-has-the-write passed",
		"scenario etcd3-partition: all 1 steps passed (recovery: isolate-node3 ",
		"node1      check kill-leader/writer-starts passed",
		"node1      check kill-leader/writer-progresses passed",
		"step lossy-node2: fault loss node2 30% took effect",
		"node1      check lossy-node2/writer-progresses passed",
		"step slow-node2: fault delay node2 200ms ±20ms took effect",
		"node1      check slow-node2/writer-progresses passed",
		"step reordering-node2: fault reorder node2 25% 50ms took effect",
		"node1      check reordering-node2/writer-progresses passed",
		"step duplicating-node3: fault duplicate node3 20% took effect",
		"node1      check duplicating-node3/writer-progresses passed",
		"step power-cycle-node3: fault power-off node3 took effect",
		"node1      check power-cycle-node3/writer-progresses passed",
		"node1      check power-cycle-node3/every-acked-write-readable passed",
		"scenario etcd3-chaos: all 6 steps passed (recovery: kill-leader ",
		"step fail-disk-node3: fault disk-fail node3 took effect",
		"node3      check fail-disk-node3/disk-refuses-writes passed",
		"node3      check fail-disk-node3/kernel-reports-errors passed",
		"node3      check fail-disk-node3/disk-writes passed",
		"scenario etcd3-disk: all 1 steps passed (recovery: fail-disk-node3 ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify --steps --steps-from: output lacks %q", want)
		}
	}
	// The leader, found when the step ran, is the one whose etcd was killed.
	if !regexp.MustCompile(`step kill-leader: fault kill node[123] unit etcd\.service took effect`).MatchString(out) {
		t.Errorf("verify --steps-from etcd3-chaos: no leader killed in the output")
	}
	raw, _ := os.ReadFile(junit)
	for _, step := range []string{"pause-node2", "isolate-node3", "kill-leader", "slow-node2", "reordering-node2", "duplicating-node3", "power-cycle-node3", "fail-disk-node3"} {
		if !regexp.MustCompile(`<testcase name="step/` + step + `" classname="etcd3" time="[0-9.]+"`).Match(raw) {
			t.Errorf("junit.xml does not record step %s with its recovery time", step)
		}
	}
	if !strings.Contains(string(raw), `failures="0"`) {
		t.Errorf("junit.xml records failures:\n%s", raw)
	}
	// What the writer did, for the log: acknowledged, read back, missing.
	if out, err := e.run(ctx, "ssh", "etcd3", "node1", "--", "echo acknowledged $(wc -l < /run/labctl-want), read $(wc -l < /run/labctl-read), missing $(comm -23 /run/labctl-want /run/labctl-read | wc -l)"); err != nil || !strings.Contains(out, "missing 0") {
		t.Errorf("the writer's record on node1: %v: %s", err, out)
	} else {
		t.Logf("etcd3-chaos writer: %s", strings.TrimSpace(out))
	}

	out, err = e.run(ctx, "fault", "etcd3", "inject", "disk-fail")
	if err == nil || !strings.Contains(out, "--machines: missing: the machines the disk-fail acts on") {
		t.Errorf("fault inject disk-fail with no machine: %v, %s; want a refusal naming --machines", err, out)
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
	// Both faults by hand are on the lab's timeline (its event log, which
	// the dashboard and the report draw): on their machines, healed.
	v, err := dashboard.Read(ctx, e.labDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var report bytes.Buffer
	if err := dashboard.WriteReport(&report, v); err != nil {
		t.Fatal(err)
	}
	for id, machine := range map[string]string{"link-down-node2": "node2", "bmc-error-node3": "node3"} {
		i := slices.IndexFunc(v.Steps, func(s dashboard.FaultStep) bool { return s.ByHand && s.Name == id })
		if i < 0 || !slices.Equal(v.Steps[i].Machines, []string{machine}) || v.Steps[i].Verdict() != "healed" || len(v.Steps[i].Marks) != 2 {
			t.Errorf("fault %s in the event log: %+v, want injected and healed on %s", id, v.Steps, machine)
		}
		if want := `<th scope="row">` + id + ` (by hand)</th>`; !strings.Contains(report.String(), want) {
			t.Errorf("the report lacks %s", want)
		}
	}
	// node2, its cable back, answers again.
	if out, err := e.run(ctx, "ssh", "etcd3", "node2", "--", "etcdctl", "--command-timeout=10s", "get", "--print-value-only", "labctl-step"); err != nil || !strings.Contains(out, "written-under-partition") {
		t.Errorf("node2 after its link came back: %v: %s", err, out)
	}
}

// testResetByHand resets node2 through its BMC's Redfish by hand, last
// (the lab goes down next: a rejoin after a reboot is what etcd3-chaos's
// power cycle shows already): the fault is proven (the gateway no longer
// reaches node2's port 22), listed, healed (nothing to undo), and node2's
// firmware started again: its iPXE asks the boot service for its script.
func testResetByHand(t *testing.T, ctx context.Context, e *e2eEnv) {
	client := &bootlog.Client{URL: "http://10.77.3.1:8080", HTTP: netns.HTTPClient(e.netns, 5*time.Second)}
	mark, err := client.Mark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.run(ctx, "fault", "etcd3", "inject", "reset", "--machines", "node2", "--protocol", "redfish")
	if err != nil || !strings.Contains(out, "fault reset-node2: reset node2 via redfish took effect") {
		t.Fatalf("fault inject reset: %v: %s", err, out)
	}
	if s, err := e.status(ctx); err != nil || len(s.Faults) != 1 || s.Faults[0].ID != "reset-node2" {
		t.Errorf("status lists faults %+v (%v); want reset-node2", s.Faults, err)
	}
	if out, err := e.run(ctx, "fault", "etcd3", "heal", "reset-node2"); err != nil || !strings.Contains(out, "fault reset-node2 healed") {
		t.Errorf("fault heal reset: %v: %s", err, out)
	}
	mac, _ := net.ParseMAC("52:54:00:77:03:12")
	waitFor(t, ctx, "node2's iPXE after the reset", func() (bool, string) {
		rs, err := client.RecordsOf(ctx, mac, "")
		if err != nil || len(rs) == 0 {
			return false, fmt.Sprint(err)
		}
		for _, ev := range rs[0].Events {
			if ev.Seq > mark && ev.Kind == bootlog.KindIPXE {
				t.Logf("node2's iPXE fetched %s at %s, after the reset", ev.Path, ev.Time.Format(time.TimeOnly))
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", rs[0].Events)
	})
}
