package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/state"
)

// TestE2EK8sInstallRack runs k8s-install on the simulated rack's servers
// (rack-sim-k8s: big enough for a control plane and two workers) as an
// operator would: inside the operator's namespace, with only the inventory
// `status -o inventory` prints and the interface rack0, labctl's dnsmasq
// handing out the inventory's addresses. The servers install labos-k8s
// through their BMCs and the site's segment, the scenario's checks pass
// (NodePort on the other worker, a worker's reboot), and the host's
// kubeconfig reaches the API server at the inventory's address: both
// workers Ready with the site's addresses. down powers the servers off and
// leaves nothing of labctl's.
func TestE2EK8sInstallRack(t *testing.T) {
	e := newE2E(t, "rack-sim-k8s")
	ctx, cancel := e2eContext(t)
	defer cancel()
	opNetns := e.netns + "-operator"
	t.Cleanup(func() { netns.Delete(context.Background(), opNetns) })
	testenvTools(t, map[string]string{"kea-dhcp4": "kea-dhcp4-server", "dnsmasq": "dnsmasq-base"})

	out, err := e.run(ctx, "up", "rack-sim-k8s", "--provider", "qemu", "--netns", e.netns)
	t.Logf("labctl up rack-sim-k8s:\n%s", out)
	if err != nil {
		t.Fatalf("labctl up rack-sim-k8s: %v", err)
	}
	waitFor(t, ctx, "the simulated rack running", func() (bool, string) {
		st, err := state.Load(e.labDir())
		if err != nil {
			return false, err.Error()
		}
		return st.Phase == state.Running, fmt.Sprintf("phase %s %s", st.Phase, st.Error)
	})
	invText, err := e.command(ctx, "status", "rack-sim-k8s", "-o", "inventory").Output()
	if err != nil {
		t.Fatalf("status -o inventory: %v", err)
	}
	invPath := filepath.Join(t.TempDir(), "rack.yaml")
	if err := os.WriteFile(invPath, invText, 0o644); err != nil {
		t.Fatal(err)
	}

	stateDir := t.TempDir()
	os.Chmod(stateDir, 0o755)
	labDir := filepath.Join(stateDir, "k8s-install")
	opCtx := rackOperator(e, opNetns, stateDir)
	op := func(args ...string) (string, error) { return opCtx(ctx, args...) }
	// Not ctx: it has ended when cleanups run, and labd would be left.
	t.Cleanup(func() { opCtx(context.Background(), "down", "k8s-install") })
	begin := time.Now()
	out, err = op("up", "k8s-install", "--inventory", invPath, "--interface", "rack0", "--dhcp", "full",
		"--map=cp1=rack1,worker1=rack2,worker2=rack3")
	t.Logf("labctl up k8s-install --inventory --dhcp full (%.0f s):\n%s", time.Since(begin).Seconds(), out)
	labd := tail(filepath.Join(labDir, "labd.log"))
	if err != nil {
		t.Fatalf("labctl up k8s-install on the rack: %v\nlabd:\n%s", err, labd)
	}
	for _, want := range []string{"3 servers of inventory " + invPath + " through their BMCs, on interface rack0 (10.79.1.2), dhcp full",
		"worker1    check nodeport-other-worker passed", "worker2    check worker-survives-reboot passed",
		"lab k8s-install is up on its servers and its 12 checks passed (interface rack0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("up's output lacks %q", want)
		}
	}
	if n := strings.Count(labd, "the disk is first from now on"); n != 3 {
		t.Errorf("%d servers put disk first after their installer's fetch, want 3:\n%s", n, labd)
	}

	// The host's kubeconfig names the control plane at the inventory's
	// address, and the cluster answers there: both workers Ready with the
	// site's addresses.
	status, err := op("status", "k8s-install", "-o", "json")
	var st struct{ Kubeconfig string }
	if err != nil || json.Unmarshal([]byte(status), &st) != nil || st.Kubeconfig == "" {
		t.Fatalf("status names no kubeconfig (%v): %s", err, status)
	}
	if kc, _ := os.ReadFile(st.Kubeconfig); !strings.Contains(string(kc), "server: https://10.79.1.11:6443\n") {
		t.Errorf("kubeconfig %s does not name the API server at rack1's address 10.79.1.11:\n%s", st.Kubeconfig, kc)
	}
	nodes, err := op("kubectl", "k8s-install", "--", "get", "nodes", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.status.addresses[?(@.type=="InternalIP")].address} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	t.Logf("kubectl get nodes (from the operator's namespace):\n%s", nodes)
	if err != nil {
		t.Fatalf("labctl kubectl get nodes: %v", err)
	}
	for _, want := range []string{"worker1 10.79.1.12 True\n", "worker2 10.79.1.13 True\n"} {
		if !strings.Contains(nodes, want) {
			t.Errorf("kubectl get nodes lacks %q", want)
		}
	}

	if out, err := op("down", "k8s-install"); err != nil || !strings.Contains(out, "lab k8s-install is down") {
		t.Fatalf("down k8s-install: %v\n%s", err, out)
	}
	if pids := processesMentioning(labDir); len(pids) > 0 {
		t.Errorf("processes of the rack's lab left: %v", pids)
	}
	power, err := netns.Command(ctx, opNetns, e.bin, "bmc", "--inventory", invPath, "power", "status", "rack1", "rack2", "rack3").CombinedOutput()
	if err != nil || strings.Count(string(power), ": off") != 3 {
		t.Errorf("after down the servers are not off: %v\n%s", err, power)
	}
	if out, err := e.run(ctx, "down", "rack-sim-k8s"); err != nil {
		t.Fatalf("labctl down rack-sim-k8s: %v\n%s", err, out)
	}
	e.assertNothingLeft(t)
	if netns.Exists(opNetns) {
		t.Errorf("operator namespace %s is left", opNetns)
	}
}
