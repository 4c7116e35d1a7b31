package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/lab/netns"
)

// testRackUp runs etcd3 on the simulated rack's three servers as an
// operator would, inside the operator's namespace with only the inventory
// and the interface rack0: bad input is refused before anything is
// powered or started, naming the flag and the field; then `up --dhcp
// proxy` beside Kea converges and verifies over SSH, status and ssh work on
// the lab, Kea's leases keep the reservations, reprovision goes through the
// servers' own BMCs (testRackReprovision), and down leaves no process of
// labctl's, the interface's links and addresses as they were, the servers
// off and Kea still handing out its reservations.
// rackOperator runs labctl as the rack's operator: in the operator's
// namespace, with a state directory of its own.
func rackOperator(e *e2eEnv, opNetns, stateDir string) func(ctx context.Context, args ...string) (string, error) {
	return func(ctx context.Context, args ...string) (string, error) {
		out, err := netns.Command(ctx, opNetns, append([]string{e.bin, "--state-dir", stateDir}, args...)...).CombinedOutput()
		return string(out), err
	}
}

func testRackUp(t *testing.T, ctx context.Context, e *e2eEnv, opNetns, invPath, keaLeases string) {
	stateDir := t.TempDir()
	os.Chmod(stateDir, 0o755)
	labDir := filepath.Join(stateDir, "etcd3")
	opCtx := rackOperator(e, opNetns, stateDir)
	op := func(args ...string) (string, error) { return opCtx(ctx, args...) }
	// Not ctx: it has ended when cleanups run, and the lab process would be left.
	t.Cleanup(func() { opCtx(context.Background(), "down", "etcd3") })
	ipState := func() string {
		out, _ := exec.Command("ip", "-n", opNetns, "-o", "addr").Output()
		links, _ := exec.Command("ip", "-n", opNetns, "-o", "link").Output()
		return string(out) + string(links)
	}
	mapping := "--map=node1=rack1,node2=rack2,node3=rack3"

	// Refused before anything is powered or started, naming flag and field.
	inv, _ := os.ReadFile(invPath)
	twoMachines := filepath.Join(t.TempDir(), "two.yaml")
	os.WriteFile(twoMachines, inv[:strings.Index(string(inv), "- name: rack3")], 0o644)
	ownAddress := filepath.Join(t.TempDir(), "own.yaml")
	os.WriteFile(ownAddress, []byte(strings.Replace(string(inv), "address: 10.79.0.11", "address: 10.79.0.2", 1)), 0o644)
	if out, err := exec.Command("ip", "-n", opNetns, "link", "add", "down0", "type", "veth", "peer", "name", "down0p").CombinedOutput(); err != nil {
		t.Fatalf("a down interface for the test: %v: %s", err, out)
	}
	before := ipState()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"fewer machines", []string{"--inventory", twoMachines, "--interface", "rack0", "--dhcp", "proxy", mapping},
			"--inventory: " + twoMachines + ": machines: scenario etcd3 needs 3 machines and lists no rack3"},
		{"no such interface", []string{"--inventory", invPath, "--interface", "nope0", "--dhcp", "proxy", mapping},
			"--interface: interface nope0 does not exist"},
		{"interface down", []string{"--inventory", invPath, "--interface", "down0", "--dhcp", "proxy", mapping},
			"--interface: interface down0 is down"},
		{"full range on the interface's address", []string{"--inventory", ownAddress, "--interface", "rack0", "--dhcp", "full", mapping},
			"(rack1).address: 10.79.0.2 is the address of interface rack0"},
		{"no dhcp mode", []string{"--inventory", invPath, "--interface", "rack0", mapping}, "--dhcp: required with --inventory"},
		{"map to no machine", []string{"--inventory", invPath, "--interface", "rack0", "--dhcp", "proxy", "--map=node9=rack1"},
			`--map: lab etcd3 has no machine "node9"`},
	} {
		out, err := op(append([]string{"up", "etcd3"}, tt.args...)...)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("%s: up: %v, want the refusal %q:\n%s", tt.name, err, tt.want, out)
		}
		if _, err := os.Stat(labDir); err == nil {
			t.Errorf("%s: up made %s before refusing", tt.name, labDir)
		}
	}
	exec.Command("ip", "-n", opNetns, "link", "del", "down0").Run()
	before = ipState()

	begin := time.Now()
	out, err := op("up", "etcd3", "--inventory", invPath, "--interface", "rack0", "--dhcp", "proxy", mapping)
	t.Logf("labctl up etcd3 --inventory (%.0f s):\n%s", time.Since(begin).Seconds(), out)
	if err != nil {
		t.Fatalf("labctl up etcd3 on the rack: %v\nlabd:\n%s", err, tail(filepath.Join(labDir, "labd.log")))
	}
	for _, want := range []string{"3 servers of inventory " + invPath + " through their BMCs, on interface rack0 (10.79.0.2), dhcp proxy",
		"node1      check members-started passed", "node3      check read-node3 passed", "lab etcd3 is up on its servers and its 6 checks passed (interface rack0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("up's output lacks %q", want)
		}
	}
	if status, err := op("status", "etcd3"); err != nil || !strings.Contains(status, "lab etcd3 (running): provider rack, interface rack0") ||
		!strings.Contains(status, "10.79.0.11  on     rack1") {
		t.Errorf("status: %v\n%s", err, status)
	}
	if host, err := op("ssh", "etcd3", "node2", "--", "hostname; ip -4 -o addr show scope global"); err != nil ||
		!strings.Contains(host, "node2") || !strings.Contains(host, "10.79.0.12/24") {
		t.Errorf("ssh node2: %v\n%s", err, host)
	}
	if v, err := op("verify", "etcd3"); err != nil {
		t.Errorf("verify: %v\n%s", err, v)
	}
	// Proxy mode: no address of labctl's; Kea's leases are its reservations.
	if l, err := os.ReadFile(filepath.Join(labDir, "dnsmasq.leases")); err == nil && len(l) > 0 {
		t.Errorf("labctl's dnsmasq handed out addresses in proxy mode:\n%s", l)
	}
	leases, _ := os.ReadFile(keaLeases)
	for _, line := range strings.Split(strings.TrimSpace(string(leases)), "\n")[1:] {
		f := strings.Split(line, ",")
		if len(f) < 2 || !strings.Contains("10.79.0.11,52:54:00:79:00:11 10.79.0.12,52:54:00:79:00:12 10.79.0.13,52:54:00:79:00:13", f[0]+","+f[1]) {
			t.Errorf("Kea's lease file holds %q, not a machine's reservation", line)
		}
	}

	t.Run("reprovision", func(t *testing.T) { testRackReprovision(t, ctx, e, opNetns, stateDir) })

	if out, err := op("down", "etcd3"); err != nil || !strings.Contains(out, "lab etcd3 is down") {
		t.Fatalf("down: %v\n%s", err, out)
	}
	if pids := processesMentioning(labDir); len(pids) > 0 {
		t.Errorf("processes of the rack's lab left: %v", pids)
	}
	if after := ipState(); after != before {
		t.Errorf("the operator's links or addresses changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	power, err := netns.Command(ctx, opNetns, e.bin, "bmc", "--inventory", invPath, "power", "status", "rack1", "rack2", "rack3").CombinedOutput()
	if err != nil || strings.Count(string(power), ": off") != 3 {
		t.Errorf("after down the servers are not off: %v\n%s", err, power)
	}
	// The site's DHCP server still runs and answers: status finds it.
	if status, err := e.run(ctx, "status", "rack-sim"); err != nil || !strings.Contains(status, "lab rack-sim (running)") {
		t.Errorf("rack-sim after etcd3's down: %v\n%s", err, status)
	}
	assertSiteDHCPAnswers(t, ctx, e, keaLeases)
}

// testRackInstallFull installs etcd3-install on the simulated rack's
// servers with labctl's dnsmasq handing out the inventory's addresses: the
// servers boot network first, so each is put disk first once its installer
// fetched its config, and comes back from its disk into the cluster (the
// scenario's checks prove it); down powers them off.
func testRackInstallFull(t *testing.T, ctx context.Context, e *e2eEnv, opNetns, invPath string) {
	stateDir := t.TempDir()
	os.Chmod(stateDir, 0o755)
	labDir := filepath.Join(stateDir, "etcd3-install")
	opCtx := rackOperator(e, opNetns, stateDir)
	op := func(args ...string) (string, error) { return opCtx(ctx, args...) }
	t.Cleanup(func() { opCtx(context.Background(), "down", "etcd3-install") })
	begin := time.Now()
	out, err := op("up", "etcd3-install", "--inventory", invPath, "--interface", "rack0", "--dhcp", "full", "--map=node1=rack1,node2=rack2,node3=rack3")
	t.Logf("labctl up etcd3-install --inventory --dhcp full (%.0f s):\n%s", time.Since(begin).Seconds(), out)
	labd := tail(filepath.Join(labDir, "labd.log"))
	if err != nil {
		t.Fatalf("labctl up etcd3-install on the rack: %v\nlabd:\n%s", err, labd)
	}
	if !strings.Contains(out, "lab etcd3-install is up on its servers and its ") {
		t.Errorf("up does not say the lab is up on its servers")
	}
	if n := strings.Count(labd, "the disk is first from now on"); n != 3 {
		t.Errorf("%d servers put disk first after their installer's fetch, want 3:\n%s", n, labd)
	}
	// Full mode: labctl's dnsmasq leased each server its inventory address.
	leases, _ := os.ReadFile(filepath.Join(labDir, "dnsmasq.leases"))
	for _, want := range []string{"52:54:00:79:00:11 10.79.0.11", "52:54:00:79:00:12 10.79.0.12", "52:54:00:79:00:13 10.79.0.13"} {
		if !strings.Contains(string(leases), want) {
			t.Errorf("dnsmasq's leases lack %q:\n%s", want, leases)
		}
	}
	if out, err := op("down", "etcd3-install"); err != nil || !strings.Contains(out, "lab etcd3-install is down") {
		t.Fatalf("down: %v\n%s", err, out)
	}
	if pids := processesMentioning(labDir); len(pids) > 0 {
		t.Errorf("processes of the rack's lab left: %v", pids)
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
