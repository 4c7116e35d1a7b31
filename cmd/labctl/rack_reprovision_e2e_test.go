package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/state"
)

// testRackReprovision reprovisions the etcd3 lab that runs on the
// simulated rack's servers (testRackUp's, in proxy mode beside Kea)
// through the servers' own BMCs, as the rack's inventory lists them
// (node1=rack1 Redfish only, node2=rack2 IPMI only, node3=rack3 both):
//
//   - with an inventory copy whose rack1 password is wrong, node1 and node2
//     --parallel 2: node1 fails at its boot device, naming node1, rack1 and
//     the refused credentials, while node2 goes on, network-boots, rejoins
//     and passes the scenario's checks;
//   - then the whole cluster --rolling with a writer putting a key through
//     all three members throughout: each member comes back with an empty
//     data directory and rejoins, the checks pass after each, and writes
//     fail at most in one short stretch per member (the scenario's before
//     hook moves the leader away first).
func testRackReprovision(t *testing.T, ctx context.Context, e *e2eEnv, opNetns, stateDir string) {
	labDir := filepath.Join(stateDir, "etcd3")
	st, err := state.Load(labDir)
	if err != nil {
		t.Fatal(err)
	}
	l := st.Lab
	op := func(args ...string) *exec.Cmd {
		return netns.Command(ctx, opNetns, append([]string{e.bin, "--state-dir", stateDir}, args...)...)
	}

	// rack1's BMC refuses; node2 goes on.
	bad := wrongPasswordInventory(t, l.Rack.Inventory, "rack1")
	cmd := op("reprovision", "etcd3", "node1", "node2", "--parallel", "2", "--inventory", bad, "-o", "json", "--timeout", "6m")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	begin := time.Now()
	raw, err := cmd.Output()
	t.Logf("labctl reprovision etcd3 node1 node2 --parallel 2, rack1's password wrong (%.1f s):\n%s\nstderr:\n%s", time.Since(begin).Seconds(), raw, stderr.String())
	if err == nil {
		t.Error("exit status 0 with a server whose BMC refused its credentials")
	}
	var rep reprovision.Report
	if err := json.Unmarshal(raw, &rep); err != nil || len(rep.Verdicts) != 2 {
		t.Fatalf("-o json: %v, %d verdicts; want node1's and node2's", err, len(rep.Verdicts))
	}
	if v := rep.Verdicts[0]; v.Machine != "node1" || v.Result != reprovision.Failed || v.Phase != reprovision.PhaseBootDevice {
		t.Errorf("node1's verdict %+v, want failed at boot-device", v)
	}
	for _, want := range []string{"node1: set boot device pxe", "rack1", "redfish", "credentials"} {
		if !strings.Contains(rep.Verdicts[0].Error, want) {
			t.Errorf("node1's error lacks %q: %s", want, rep.Verdicts[0].Error)
		}
	}
	if v := rep.Verdicts[1]; v.Machine != "node2" || v.Result != reprovision.Passed || v.Phase != reprovision.PhaseDone || len(v.Checks) == 0 {
		t.Errorf("node2's verdict %+v, want passed with its checks", v)
	}
	if len(rep.Checks) != 1 || rep.Checks[0].Error != "" {
		t.Errorf("check runs %+v, want one that passed after node2", rep.Checks)
	}

	// The whole cluster, member by member, a writer running throughout.
	w := startWriter(t, ctx, l, opNetns)
	cmd = op("reprovision", "etcd3", "--all", "--rolling", "-o", "json", "--timeout", "20m")
	stderr.Reset()
	cmd.Stderr = &stderr
	begin = time.Now()
	raw, err = cmd.Output()
	took := time.Since(begin)
	t.Logf("labctl reprovision etcd3 --all --rolling (%.1f s):\n%s\nstderr:\n%s", took.Seconds(), raw, stderr.String())
	writes := w.stop(t)
	if err != nil {
		t.Fatalf("rolling reprovision on the rack: %v", err)
	}
	rep = reprovision.Report{}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("-o json: %v", err)
	}
	for i, v := range rep.Verdicts {
		if v.Machine != l.Machines[i].Name || v.Result != reprovision.Passed || v.Phase != reprovision.PhaseDone || len(v.Checks) == 0 {
			t.Errorf("verdict %d: %+v, want %s passed with its checks", i, v, l.Machines[i].Name)
		}
	}
	if len(rep.Checks) != 3 {
		t.Fatalf("%d check runs, want one after each member", len(rep.Checks))
	}
	for i, run := range rep.Checks {
		if run.Error != "" || len(run.After) != 1 || run.After[0] != l.Machines[i].Name {
			t.Errorf("check run %d: after %v, error %q; want after %s, passed", i, run.After, run.Error, l.Machines[i].Name)
		}
	}
	// A live server boots the network every time: set persistently, as up set it.
	if strings.Contains(stderr.String(), "once=true") {
		t.Errorf("a server that lives in RAM was set to boot the network once")
	}
	ok, failed, stretches, longest := writes.summary()
	t.Logf("writer: %d writes succeeded, %d failed in %d stretches (longest %.1f s) over %.1f s of rolling reprovision", ok, failed, stretches, longest.Seconds(), took.Seconds())
	if stretches > len(l.Machines) || longest > 30*time.Second {
		t.Errorf("writes failed in %d stretches, the longest %s: want at most one short stretch per member", stretches, longest)
	}
	if ok < 10 {
		t.Errorf("only %d writes succeeded during the rolling reprovision", ok)
	}
	if !strings.Contains(stderr.String(), `msg="reprovision hook ran" hook=before`) || !strings.Contains(stderr.String(), "Leadership transferred from ") {
		t.Errorf("no before hook moved the etcd leader away")
	}
}

// wrongPasswordInventory copies the inventory at path with server's BMC
// password file replaced by one holding a wrong password.
func wrongPasswordInventory(t *testing.T, path, server string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		Machines []map[string]any `yaml:"machines"`
	}
	if err := yaml.Unmarshal(raw, &inv); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	dir := t.TempDir()
	wrong := filepath.Join(dir, "wrong-password")
	os.WriteFile(wrong, []byte("not-the-password\n"), 0o600)
	changed := 0
	for _, m := range inv.Machines {
		if m["name"] != server {
			continue
		}
		eps, _ := m["bmc"].([]any)
		for _, ep := range eps {
			if ep, ok := ep.(map[string]any); ok {
				ep["password_file"] = wrong
				changed++
			}
		}
	}
	if changed == 0 {
		t.Fatalf("%s lists no BMC endpoint of %s", path, server)
	}
	out, err := yaml.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// assertSiteDHCPAnswers asks the simulated rack's Kea for rack3's address
// with a real DHCP exchange (busybox udhcpc on a port of the rack's switch
// that takes rack3's MAC and client identifier while rack3 is off): the
// site's DHCP still answers after a rack lab's down.
func assertSiteDHCPAnswers(t *testing.T, ctx context.Context, e *e2eEnv, keaLeases string) {
	t.Helper()
	testenvTools(t, map[string]string{"busybox": "busybox"})
	st, err := state.Load(e.labDir())
	if err != nil {
		t.Fatal(err)
	}
	const mac, reserved = "52:54:00:79:00:13", "10.79.0.13"
	args := []string{"udhcpc", "-i", "probe0", "-n", "-q", "-f", "-t", "10", "-T", "1"}
	// The client identifier rack3 last used, if any: Kea gives a leased
	// address only to the client that holds it.
	leases, _ := os.ReadFile(keaLeases)
	var clientID string
	for _, line := range strings.Split(string(leases), "\n") {
		if f := strings.Split(line, ","); len(f) > 2 && f[0] == reserved {
			clientID = f[2] // the file is a journal: the last line counts
		}
	}
	if clientID != "" {
		args = append(args, "-C", "-x", "0x3d:"+strings.ReplaceAll(clientID, ":", ""))
	}
	dir := t.TempDir()
	script, lease := filepath.Join(dir, "udhcpc.sh"), filepath.Join(dir, "lease")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip serverid=$serverid\" > "+lease+"\nexit 0\n"), 0o755)
	ns := st.Lab.Netns
	for _, argv := range [][]string{
		{"link", "add", "probe0", "type", "veth", "peer", "name", "probe0p"},
		{"link", "set", "probe0p", "master", st.Lab.Network.Name, "up"},
		{"link", "set", "probe0", "address", mac, "up"},
	} {
		if out, err := exec.CommandContext(ctx, "ip", append([]string{"-n", ns}, argv...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(argv, " "), err, out)
		}
	}
	defer exec.Command("ip", "-n", ns, "link", "del", "probe0").Run()
	out, err := netns.Command(ctx, ns, append([]string{"busybox"}, append(args, "-s", script)...)...).CombinedOutput()
	got, _ := os.ReadFile(lease)
	if want := "ip=" + reserved + " serverid=" + st.Lab.Network.Gateway.String(); err != nil || strings.TrimSpace(string(got)) != want {
		t.Errorf("the site's DHCP after down: udhcpc %v, lease %q; want %q\n%s", err, got, want, out)
	}
	t.Logf("the site's DHCP after down: %s", strings.TrimSpace(string(got)))
}
