package control

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// A lab reprovisioned through an inventory's BMC endpoints refuses an
// inventory that does not fit the lab, naming file, machine and field,
// before any BMC is dialled: the lab's namespace does not even exist.
func TestReprovisionRefusesInventory(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	st := &state.State{Source: "pxe-smoke", Lab: &lab.Lab{Name: "pxe-smoke", Dir: t.TempDir(), Netns: "labctl-test-no-such-netns",
		Machines: []lab.Machine{{Name: "bios1", MAC: mac("52:54:00:77:00:11")}, {Name: "uefi1", MAC: mac("52:54:00:77:00:12"), Firmware: lab.UEFI}}}}
	const bios1 = `  - name: bios1
    mac: 52:54:00:77:00:11
    bmc: [{protocol: ipmi, address: "10.77.0.1:6230", username: admin, password_env: X}]
`
	const uefi1 = `  - name: uefi1
    mac: 52:54:00:77:00:12
    bmc: [{protocol: ipmi, address: "10.77.0.1:6231", username: admin, password_env: X}]
`
	for _, tc := range []struct {
		name, inventory string
		machines        []string
		o               ReprovisionOptions
		want            string
	}{
		{"machine missing", bios1, []string{"bios1", "uefi1"}, ReprovisionOptions{}, "inv.yaml: no machine named uefi1"},
		{"every machine, one missing", uefi1, nil, ReprovisionOptions{}, "inv.yaml: no machine named bios1"},
		{"another MAC", bios1 + strings.Replace(uefi1, "00:12", "00:99", 1), []string{"uefi1"}, ReprovisionOptions{},
			"inv.yaml: machine uefi1: mac 52:54:00:77:00:99 is not the lab's 52:54:00:77:00:12"},
		{"no endpoint of the protocol", bios1, []string{"bios1"}, ReprovisionOptions{Protocols: []bmc.Protocol{bmc.Redfish}},
			"inv.yaml: machine bios1 has no redfish BMC endpoint"},
		{"the inventory's own refusal", strings.Replace(bios1, "    mac: 52:54:00:77:00:11\n", "", 1), []string{"bios1"}, ReprovisionOptions{},
			"inv.yaml: machines[0] (bios1).mac: required"},
		{"no such lab machine", bios1, []string{"bios9"}, ReprovisionOptions{}, `lab pxe-smoke has no machine "bios9"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := filepath.Join(t.TempDir(), "inv.yaml")
			if err := os.WriteFile(inv, []byte("machines:\n"+tc.inventory), 0o644); err != nil {
				t.Fatal(err)
			}
			o := tc.o
			o.Inventory = inv
			sc, err := scenario.Find(st.Source)
			if err != nil {
				t.Fatal(err)
			}
			lb := &Lab{State: st, Scenario: sc, report: reporter(nil)}
			_, err = lb.Reprovision(context.Background(), tc.machines, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// A rack has no scenario checks to gate a rolling run: refused before
// anything is dialled.
func TestReprovisionRackRefusesRolling(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "inv.yaml")
	os.WriteFile(inv, []byte("machines:\n  - name: n1\n    mac: 52:54:00:00:00:01\n    bmc: [{protocol: ipmi, address: \"192.0.2.1:623\", username: admin, password_env: X}]\n"), 0o644)
	_, err := ReprovisionRack(context.Background(), nil, RackOptions{Inventory: inv, BootURL: "http://192.0.2.1:8080", Plan: reprovision.Plan{Rolling: true}}, nil)
	if err == nil || !strings.Contains(err.Error(), "a rolling run needs a scenario's checks") {
		t.Fatalf("got %v, want --rolling refused", err)
	}
}

// A lab on a rack's servers is reprovisioned through its rack's inventory,
// where its machines go by their servers' names: a server the inventory no
// longer lists, or lists with another MAC, is refused by that name before
// any BMC is dialled.
func TestReprovisionRackLabUsesItsInventory(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	dir := t.TempDir()
	inv := filepath.Join(dir, "rack.yaml")
	st := &state.State{Source: "pxe-smoke", Lab: &lab.Lab{Name: "pxe-smoke", Dir: dir,
		Machines: []lab.Machine{{Name: "bios1", MAC: mac("52:54:00:77:00:11")}, {Name: "uefi1", MAC: mac("52:54:00:77:00:12"), Firmware: lab.UEFI}},
		Rack:     &lab.Rack{Inventory: inv, DHCP: "proxy", Servers: map[string]string{"bios1": "rack1", "uefi1": "rack2"}}}}
	const rack1 = `  - name: rack1
    mac: 52:54:00:77:00:11
    bmc: [{protocol: ipmi, address: "192.0.2.1:6230", username: admin, password_env: X}]
`
	for _, tc := range []struct{ name, inventory, want string }{
		{"server missing", rack1, inv + ": no machine named rack2"},
		{"server with another MAC", rack1 + strings.Replace(strings.Replace(rack1, "rack1", "rack2", 1), "00:11", "00:99", 1),
			inv + ": machine rack2: mac 52:54:00:77:00:99 is not the lab's 52:54:00:77:00:12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(inv, []byte("machines:\n"+tc.inventory), 0o644); err != nil {
				t.Fatal(err)
			}
			sc, err := scenario.Find(st.Source)
			if err != nil {
				t.Fatal(err)
			}
			lb := &Lab{State: st, Scenario: sc, report: reporter(nil)}
			if _, err := lb.Reprovision(context.Background(), nil, ReprovisionOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
