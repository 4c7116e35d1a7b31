package control

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// rackInventory lists pxe-smoke's machines as a rack's: bios1 and uefi1
// with addresses given by addr (name -> address; "" leaves it out).
func rackInventory(t *testing.T, addr map[string]string, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("machines:\n")
	for i, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    mac: 52:54:00:66:00:%02x\n    uuid: 11111111-2222-3333-4444-5555555555%02x\n", n, i+1, i+1)
		if a := addr[n]; a != "" {
			fmt.Fprintf(&b, "    address: %s\n", a)
		}
		fmt.Fprintf(&b, "    bmc:\n      - {protocol: ipmi, address: \"10.66.0.200:623\", username: admin, password_env: BMC_PASSWORD}\n")
	}
	p := filepath.Join(t.TempDir(), "rack.yaml")
	os.WriteFile(p, []byte(b.String()), 0o644)
	return p
}

// Inputs refused before any interface or file is looked at.
func TestCheckRackInputs(t *testing.T) {
	sc, err := scenario.Find("pxe-smoke")
	if err != nil {
		t.Fatal(err)
	}
	inv := rackInventory(t, nil, "bios1", "uefi1")
	tests := []struct {
		name string
		o    RackUpOptions
		want string
	}{
		{"no inventory", RackUpOptions{Interface: "lo", DHCP: "proxy"}, "inventory: required"},
		{"no interface", RackUpOptions{Inventory: inv, DHCP: "proxy"}, "interface: required"},
		{"no dhcp mode", RackUpOptions{Inventory: inv, Interface: "lo"}, "dhcp: required"},
		{"bad dhcp mode", RackUpOptions{Inventory: inv, Interface: "lo", DHCP: "half"}, `dhcp: "half": want proxy, full or none`},
		{"no such interface", RackUpOptions{Inventory: inv, Interface: "nope0", DHCP: "proxy"}, "interface: interface nope0 does not exist"},
		{"map from no machine", RackUpOptions{Inventory: inv, Interface: "lo", DHCP: "proxy", Map: map[string]string{"node9": "bios1"}},
			`map: lab pxe-smoke has no machine "node9" (its machines: bios1, uefi1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckRack(sc, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckRack: %v, want %q", err, tt.want)
			}
		})
	}
}

// On an interface of a namespace of the test's own: the inventory's MACs,
// UUIDs and addresses replace the scenario's; an interface that is down,
// too few machines, a machine without a MAC or an address, and an address
// outside the interface's subnet are each refused, naming the field.
func TestCheckRackOnInterface(t *testing.T) {
	if testing.Short() {
		t.Skip("makes a network namespace and links")
	}
	testenv.Privileged(t, "makes a network namespace with links to check")
	ctx := context.Background()
	ns := fmt.Sprintf("lt-rackup-%08x", rand.Uint32())
	if err := netns.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Delete(ctx, ns)
	for _, l := range []string{
		"link add rack0 type veth peer name rack0p", "addr add 10.66.0.1/24 dev rack0", "link set rack0p up", "link set rack0 up",
		"link add down0 type veth peer name down0p", "addr add 10.67.0.1/24 dev down0",
	} {
		if out, err := exec.Command("ip", append([]string{"-n", ns}, strings.Fields(l)...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", l, err, out)
		}
	}
	sc, err := scenario.Find("pxe-smoke")
	if err != nil {
		t.Fatal(err)
	}
	both := map[string]string{"bios1": "10.66.0.11", "uefi1": "10.66.0.12"}
	check := func(o RackUpOptions) (plan *RackPlan, err error) {
		nerr := netns.Do(ns, func() error { plan, err = CheckRack(sc, o); return nil })
		if nerr != nil {
			t.Fatal(nerr)
		}
		return plan, err
	}

	inv := rackInventory(t, both, "bios1", "uefi1")
	plan, err := check(RackUpOptions{Inventory: inv, Interface: "rack0", DHCP: "proxy"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s %s %s %s", plan.Machines[0].MAC, plan.Machines[0].UUID, plan.Machines[0].IP, plan.Link.Addr); got != "52:54:00:66:00:01 11111111-2222-3333-4444-555555555501 10.66.0.11 10.66.0.1/24" {
		t.Errorf("bios1 on the rack: %s", got)
	}
	if plan.Machines[1].Name != "uefi1" || plan.Machines[1].IP.String() != "10.66.0.12" || plan.Machines[1].Firmware != "uefi" {
		t.Errorf("uefi1 on the rack: %+v", plan.Machines[1])
	}

	// Names that differ: --map's scenario=inventory pairs.
	mapped := rackInventory(t, map[string]string{"rack-a": "10.66.0.21", "rack-b": "10.66.0.22"}, "rack-a", "rack-b")
	plan, err = check(RackUpOptions{Inventory: mapped, Interface: "rack0", DHCP: "full", Map: map[string]string{"bios1": "rack-a", "uefi1": "rack-b"}})
	if err != nil {
		t.Fatal(err)
	}
	l := plan.Lab(sc.Lab("/labs/pxe-smoke", "ignored"))
	if got := fmt.Sprintf("%s=%s %s %s=%s %s netns %q on %s %s", l.Machines[0].Name, l.Rack.Server("bios1"), l.Machines[0].IP,
		l.Machines[1].Name, l.Rack.Server("uefi1"), l.Machines[1].IP, l.Netns, l.Network.Name, l.Network.Gateway); got != `bios1=rack-a 10.66.0.21 uefi1=rack-b 10.66.0.22 netns "" on rack0 10.66.0.1` {
		t.Errorf("mapped lab: %s", got)
	}
	if l.Rack.DHCP != "full" || !filepath.IsAbs(l.Rack.Inventory) {
		t.Errorf("rack: %+v", l.Rack)
	}
	if _, err := check(RackUpOptions{Inventory: mapped, Interface: "rack0", DHCP: "full", Map: map[string]string{"bios1": "rack-a"}}); err == nil ||
		!strings.Contains(err.Error(), "lists no uefi1 (inventory machines are matched by name, or as --map says)") {
		t.Errorf("a machine neither named nor mapped: %v", err)
	}

	noMAC := filepath.Join(t.TempDir(), "nomac.yaml")
	raw, _ := os.ReadFile(inv)
	os.WriteFile(noMAC, []byte(strings.Replace(string(raw), "    mac: 52:54:00:66:00:02\n", "", 1)), 0o644)
	tests := []struct {
		name string
		o    RackUpOptions
		want string
	}{
		{"interface down", RackUpOptions{Inventory: inv, Interface: "down0", DHCP: "full"}, "interface: interface down0 is down"},
		{"fewer machines", RackUpOptions{Inventory: rackInventory(t, both, "bios1"), Interface: "rack0", DHCP: "proxy"},
			"machines: scenario pxe-smoke needs 2 machines and lists no uefi1"},
		{"machine without a MAC", RackUpOptions{Inventory: noMAC, Interface: "rack0", DHCP: "proxy"}, "machines[1] (uefi1).mac: required"},
		{"machine without an address", RackUpOptions{Inventory: rackInventory(t, map[string]string{"bios1": "10.66.0.11"}, "bios1", "uefi1"), Interface: "rack0", DHCP: "proxy"},
			"machines[1] (uefi1).address: required"},
		{"address outside the subnet", RackUpOptions{Inventory: rackInventory(t, map[string]string{"bios1": "10.66.0.11", "uefi1": "10.99.0.12"}, "bios1", "uefi1"), Interface: "rack0", DHCP: "full"},
			"machines[1] (uefi1).address: 10.99.0.12 is outside 10.66.0.0/24, the subnet of interface rack0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := check(tt.o)
			var in *InputError
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &in) {
				t.Fatalf("CheckRack: %v, want an InputError with %q", err, tt.want)
			}
		})
	}
}

// A rack lab's inventory is its servers as the rack's inventory lists them
// (their names and BMCs there), not virtual BMCs; one whose inventory went
// is refused naming it.
func TestInventoryOfARackLab(t *testing.T) {
	inv := rackInventory(t, map[string]string{"rack1": "10.66.0.11", "rack2": "10.66.0.12"}, "rack1", "rack2", "rack3")
	st := &state.State{Lab: &lab.Lab{Name: "pxe-smoke", Machines: []lab.Machine{{Name: "bios1"}, {Name: "uefi1"}},
		Rack: &lab.Rack{Inventory: inv, Servers: map[string]string{"bios1": "rack2", "uefi1": "rack1"}}}}
	ms, err := Inventory(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "rack2" || ms[1].Name != "rack1" || ms[0].Address.String() != "10.66.0.12" ||
		len(ms[0].BMC) != 1 || ms[0].BMC[0].Address != "10.66.0.200:623" {
		t.Errorf("inventory of the rack lab = %+v, want rack2 then rack1 with the rack's BMC", ms)
	}
	st.Lab.Rack.Inventory = filepath.Join(t.TempDir(), "gone.yaml")
	if _, err := Inventory(st); err == nil || !strings.Contains(err.Error(), "the inventory lab pxe-smoke was brought up from") || !strings.Contains(err.Error(), "gone.yaml") {
		t.Errorf("a gone inventory: err = %v, want one naming it", err)
	}
}
