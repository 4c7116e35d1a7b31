package control

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/state"
)

// A lab's inventory lists an IPv6-only machine without an address (an
// inventory's is the IPv4 one a site reserves) and reads back; a dual-stack
// one keeps its IPv4 address.
func TestInventoryOfAnIPv6Lab(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	st := &state.State{Lab: &lab.Lab{Name: "boot-matrix", Dir: t.TempDir(), Network: lab.Network{Gateway: netip.MustParseAddr("10.77.30.1")},
		Machines: []lab.Machine{
			{Name: "uefi-ipv6", MAC: mac("52:54:00:77:30:21"), UUID: "7d3c0b1e-0b6a-4d51-9c39-000000003021", IP: netip.MustParseAddr("fd00:77:30::21")},
			{Name: "uefi-plain", MAC: mac("52:54:00:77:30:12"), UUID: "7d3c0b1e-0b6a-4d51-9c39-000000003012", IP: netip.MustParseAddr("10.77.30.12"), IP6: netip.MustParseAddr("fd00:77:30::12")},
		}}}
	ms, err := Inventory(st)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := inventory.Encode(&b, ms); err != nil {
		t.Fatalf("encode: %v", err)
	}
	inv, err := inventory.Parse("inventory", b.Bytes())
	if err != nil {
		t.Fatalf("read back: %v\n%s", err, b.String())
	}
	got := map[string]string{}
	for _, m := range inv.Machines {
		got[m.Name] = m.Address.String()
	}
	if got["uefi-ipv6"] != "invalid IP" || got["uefi-plain"] != "10.77.30.12" {
		t.Errorf("addresses %v, want none for uefi-ipv6 and 10.77.30.12 for uefi-plain", got)
	}
	if strings.Contains(b.String(), "fd00:") {
		t.Errorf("an IPv6 address in the inventory:\n%s", b.String())
	}
}
