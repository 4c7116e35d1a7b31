package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/state"
)

// TestE2ERackSim rehearses the rack flow on the simulated rack: its site
// DHCP server (Kea) leases blank machines their reserved addresses; an
// operator, with only the inventory `status -o inventory` prints and the
// interface rack0, runs `labctl serve --dhcp proxy` beside Kea and
// reprovisions two machines through their BMCs (one Redfish-only, one
// IPMI-only): each network-boots with Kea's address and fetches its config
// from serve, and Kea's leases keep the reserved addresses. down leaves
// nothing of labctl's, the operator's namespace included.
func TestE2ERackSim(t *testing.T) {
	e := newE2E(t, "rack-sim")
	ctx, cancel := e2eContext(t)
	defer cancel()
	opNetns := e.netns + "-operator"
	t.Cleanup(func() { netns.Delete(context.Background(), opNetns) })
	testenvTools(t, map[string]string{"kea-dhcp4": "kea-dhcp4-server", "dnsmasq": "dnsmasq-base"})

	out, err := e.run(ctx, "up", "rack-sim", "--provider", "qemu", "--netns", e.netns)
	t.Logf("labctl up rack-sim:\n%s", out)
	if err != nil {
		t.Fatalf("labctl up: %v", err)
	}
	for _, want := range []string{"simulated rack rack-sim is up: 3 blank machines, the site's DHCP (kea)",
		"operator interface: rack0 (10.79.0.2) in namespace " + opNetns, "status rack-sim -o inventory"} {
		if !strings.Contains(out, want) {
			t.Errorf("up's output lacks %q", want)
		}
	}
	dir := e.labDir()
	waitFor(t, ctx, "the lab running", func() (bool, string) {
		st, err := state.Load(dir)
		if err != nil {
			return false, err.Error()
		}
		return st.Phase == state.Running, fmt.Sprintf("phase %s %s", st.Phase, st.Error)
	})
	if !netns.Exists(opNetns) {
		t.Fatalf("no operator namespace %s", opNetns)
	}
	// No labctl boot service or dnsmasq on the rack's segment: Kea serves it.
	if st, _ := state.Load(dir); st.Pids["dnsmasq"] != 0 || st.Pids["kea"] == 0 {
		t.Errorf("recorded helpers %v: want kea and no dnsmasq", st.Pids)
	}
	if status, err := e.run(ctx, "status", "rack-sim"); err != nil || !strings.Contains(status, "lab rack-sim (running)") {
		t.Errorf("status: %v\n%s", err, status)
	}

	// The blank machines boot from the network and get Kea's reservation.
	leases := filepath.Join(dir, "kea-leases4.csv")
	reserved := map[string]string{"rack1": "10.79.0.11", "rack2": "10.79.0.12"}
	macs := map[string]string{"rack1": "52:54:00:79:00:11", "rack2": "52:54:00:79:00:12"}
	for name, ip := range reserved {
		waitFor(t, ctx, name+"'s lease from Kea", func() (bool, string) {
			b, _ := os.ReadFile(leases)
			return strings.Contains(string(b), ip+","+macs[name]), string(b)
		})
	}

	// The operator's inventory: addresses, and BMCs that speak what the scenario says.
	invText, err := e.command(ctx, "status", "rack-sim", "-o", "inventory").Output()
	if err != nil {
		t.Fatalf("status -o inventory: %v", err)
	}
	invPath := filepath.Join(t.TempDir(), "rack.yaml")
	os.WriteFile(invPath, invText, 0o644)
	inv, err := inventory.Load(invPath)
	if err != nil {
		t.Fatalf("the printed inventory does not load: %v\n%s", err, invText)
	}
	protocols := map[string]string{}
	for _, m := range inv.Machines {
		var ps []string
		for _, ep := range m.BMC {
			ps = append(ps, string(ep.Protocol))
		}
		protocols[m.Name] = strings.Join(ps, ",")
		if want, ok := reserved[m.Name]; ok && m.Address.String() != want {
			t.Errorf("inventory: %s's address %s, want %s", m.Name, m.Address, want)
		}
	}
	if want := map[string]string{"rack1": "redfish", "rack2": "ipmi", "rack3": "redfish,ipmi"}; fmt.Sprint(protocols) != fmt.Sprint(want) {
		t.Errorf("inventory BMC protocols %v, want %v\n%s", protocols, want, invText)
	}

	// The operator's boot service, in proxy mode beside Kea.
	runDir := filepath.Join(t.TempDir(), "run")
	data, _ := filepath.Abs("../../scenarios/rack-sim/data")
	serve := netns.Command(ctx, opNetns, e.bin, "serve", "--data", data, "--assets", filepath.Join(dir, "assets"),
		"--run-dir", runDir, "--interface", "rack0", "--dhcp", "proxy")
	serveOut := &testenv.Buffer{}
	serve.Stdout, serve.Stderr = serveOut, serveOut
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	serveExited := make(chan struct{})
	go func() { serve.Wait(); close(serveExited) }()
	stopServe := func() {
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-serveExited:
		case <-time.After(30 * time.Second):
			t.Errorf("labctl serve did not stop on SIGTERM:\n%s", serveOut)
			serve.Process.Kill()
			<-serveExited
		}
	}
	defer stopServe()
	waitOutput(t, serveOut, "dnsmasq running", serveExited)
	leasesBefore, _ := os.ReadFile(leases)

	// Reprovision as an operator: only the inventory and serve's URL.
	rep := netns.Command(ctx, opNetns, e.bin, "reprovision", "--inventory", invPath, "--bootsvc", "http://10.79.0.2:8080",
		"rack1", "rack2", "--timeout", "3m")
	rep.Env = e.env
	repOut, err := rep.CombinedOutput()
	t.Logf("labctl reprovision:\n%s", repOut)
	if err != nil {
		t.Fatalf("labctl reprovision: %v\nserve:\n%s", err, serveOut)
	}
	for name := range reserved {
		if !strings.Contains(string(repOut), name+": passed") {
			t.Errorf("reprovision output lacks %q", name+": passed")
		}
	}
	client := &bootlog.Client{URL: "http://10.79.0.2:8080", HTTP: netns.HTTPClient(opNetns, 5*time.Second)}
	for name, ip := range reserved {
		hw, _ := net.ParseMAC(macs[name])
		rs, err := client.RecordsOf(ctx, hw, "")
		if err != nil {
			t.Fatal(err)
		}
		r := bootlog.Find(rs, hw, "")
		if r == nil || !hasEvent(r, bootlog.KindIPXE) {
			t.Errorf("%s: serve's machine log has no /ipxe fetch: %+v", name, r)
			continue
		}
		if r.IP != ip {
			t.Errorf("%s fetched its config from %s, not from Kea's reservation %s", name, r.IP, ip)
		}
		t.Logf("%s: address %s, events %v", name, r.IP, eventKinds(r))
	}
	if l, err := os.ReadFile(filepath.Join(runDir, "dnsmasq.leases")); err == nil && len(l) > 0 {
		t.Errorf("serve's dnsmasq handed out addresses in proxy mode:\n%s", l)
	}
	// Kea's leases: the same reservations, no address of anyone else's.
	leasesAfter, _ := os.ReadFile(leases)
	for _, line := range strings.Split(strings.TrimSpace(string(leasesAfter)), "\n")[1:] {
		f := strings.Split(line, ",")
		if len(f) < 2 || !strings.Contains(string(leasesBefore)+strings.Join([]string{"10.79.0.11," + macs["rack1"], "10.79.0.12," + macs["rack2"], "10.79.0.13,52:54:00:79:00:13"}, " "), f[0]+","+f[1]) {
			t.Errorf("Kea's lease file holds %q, not a machine's reservation", line)
		}
	}

	stopServe()
	t.Run("up etcd3 on the rack", func(t *testing.T) { testRackUp(t, ctx, e, opNetns, invPath, leases) })
	t.Run("up etcd3-install on the rack in dhcp full mode", func(t *testing.T) { testRackInstallFull(t, ctx, e, opNetns, invPath) })
	out, err = e.run(ctx, "down", "rack-sim")
	if err != nil {
		t.Fatalf("labctl down: %v\n%s", err, out)
	}
	e.assertNothingLeft(t)
	if netns.Exists(opNetns) {
		t.Errorf("operator namespace %s is left", opNetns)
	}
	if pids := processesMentioning(runDir); len(pids) > 0 {
		t.Errorf("serve's dnsmasq left: %v", pids)
	}
}

// waitFor polls cond until it holds, failing with what it last said when
// ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %s: %s", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// testenvTools fails t naming the Debian package of each missing tool.
func testenvTools(t *testing.T, tools map[string]string) {
	t.Helper()
	for tool, pkg := range tools {
		testenv.Tool(t, tool, pkg)
	}
}
