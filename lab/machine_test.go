package lab

import (
	"net"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/power"
)

func testMachine(fw Firmware, boot ...power.BootDevice) Machine {
	mac, _ := net.ParseMAC("52:54:00:77:00:11")
	return Machine{Name: "m1", MAC: mac, UUID: "7d3c0b1e-0b6a-4d51-9c39-000000000011", MemoryMiB: 512, VCPUs: 2, DiskGiB: 1, Firmware: fw, Boot: boot}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Machine)
		field  string
	}{
		{"comma in name", func(m *Machine) { m.Name = "a,b" }, "name"},
		{"multicast mac", func(m *Machine) { m.MAC[0] = 1 }, "mac"},
		{"short mac", func(m *Machine) { m.MAC = m.MAC[:3] }, "mac"},
		{"bad uuid", func(m *Machine) { m.UUID = "x" }, "uuid"},
		{"upper-case uuid", func(m *Machine) { m.UUID = strings.ToUpper(m.UUID) }, "uuid"},
		{"tiny memory", func(m *Machine) { m.MemoryMiB = 8 }, "memory"},
		{"no cpus", func(m *Machine) { m.VCPUs = 0 }, "vcpus"},
		{"no disk", func(m *Machine) { m.DiskGiB = 0 }, "disk"},
		{"bad firmware", func(m *Machine) { m.Firmware = "coreboot" }, "firmware"},
		{"no boot order", func(m *Machine) { m.Boot = nil }, "boot"},
		{"bad boot device", func(m *Machine) { m.Boot = []power.BootDevice{"cdrom"} }, `boot[0]: boot device "cdrom" is neither network, http nor disk`},
		{"http boot on bios", func(m *Machine) { m.Boot = []power.BootDevice{power.BootHTTP} }, "boot[0]: http (UEFI HTTP boot) needs firmware uefi"},
		{"pxe and http", func(m *Machine) {
			m.Firmware, m.Boot = UEFI, []power.BootDevice{power.BootHTTP, power.BootDisk, power.BootNetwork}
		}, "boot[2]: http and network both boot from the one NIC: choose one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMachine(BIOS, power.BootNetwork)
			tt.modify(&m)
			err := m.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want one naming %q", err, tt.field)
			}
		})
	}
	for _, m := range []Machine{testMachine(UEFI, power.BootNetwork, power.BootDisk), testMachine(UEFI, power.BootHTTP, power.BootDisk)} {
		if err := m.Validate(); err != nil {
			t.Errorf("valid machine %v: %v", m.Boot, err)
		}
	}
}

// One lookup: a known machine comes with its index; an unknown one is an
// error naming the lab and listing its machines.
func TestMachineLookup(t *testing.T) {
	l := &Lab{Name: "etcd3", Machines: []Machine{{Name: "node1"}, {Name: "node2"}, {Name: "node3"}}}
	m, i, err := l.Machine("node2")
	if err != nil || m.Name != "node2" || i != 1 {
		t.Errorf("Machine(node2) = %q, %d, %v; want node2, 1", m.Name, i, err)
	}
	_, i, err = l.Machine("node4")
	want := `lab etcd3 has no machine "node4" (its machines: node1, node2, node3)`
	if err == nil || err.Error() != want || i != -1 {
		t.Errorf("Machine(node4) = %d, %v; want -1, %q", i, err, want)
	}
}
