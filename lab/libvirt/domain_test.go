package libvirt

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/vm"
)

func testLab() *lab.Lab {
	return &lab.Lab{
		Name: "t", Netns: "t-ns", Dir: "/srv/labs/t",
		Network: lab.Network{Name: "labbr0", Subnet: netip.MustParsePrefix("10.77.0.0/24"), Gateway: netip.MustParseAddr("10.77.0.1")},
	}
}

func testMachine(fw lab.Firmware, boot ...power.BootDevice) lab.Machine {
	mac, _ := net.ParseMAC("52:54:00:77:00:11")
	return lab.Machine{Name: "m1", MAC: mac, UUID: "7d3c0b1e-0b6a-4d51-9c39-000000000011",
		MemoryMiB: 512, VCPUs: 2, DiskGiB: 1, Firmware: fw, Boot: boot}
}

// bootOrder returns the devices in per-device boot order, as libvirt reads them.
func bootOrder(t *testing.T, d *libvirtxml.Domain) []power.BootDevice {
	t.Helper()
	if len(d.OS.BootDevices) != 0 {
		t.Errorf("<os><boot dev> present alongside per-device boot order: %+v", d.OS.BootDevices)
	}
	order := map[uint]power.BootDevice{}
	for _, i := range d.Devices.Interfaces {
		if i.Boot != nil {
			order[i.Boot.Order] = power.BootNetwork
		}
	}
	for _, k := range d.Devices.Disks {
		if k.Boot != nil {
			order[k.Boot.Order] = power.BootDisk
		}
	}
	var out []power.BootDevice
	for i := uint(1); i <= uint(len(order)); i++ {
		dev, ok := order[i]
		if !ok {
			t.Fatalf("boot orders are not 1..%d: %v", len(order), order)
		}
		out = append(out, dev)
	}
	return out
}

func TestDomainXML(t *testing.T) {
	l := testLab()
	for _, tc := range []struct {
		name     string
		m        lab.Machine
		domType  string
		machine  string
		loader   string
		nvram    string
		wantBoot []power.BootDevice
	}{
		{"bios network", testMachine(lab.BIOS, power.BootNetwork), "qemu", "pc", "", "", []power.BootDevice{power.BootNetwork}},
		{"bios network then disk", testMachine(lab.BIOS, power.BootNetwork, power.BootDisk), "kvm", "pc", "", "", []power.BootDevice{power.BootNetwork, power.BootDisk}},
		{"bios default order", testMachine(lab.BIOS), "qemu", "pc", "", "", []power.BootDevice{power.BootNetwork, power.BootDisk}},
		{"uefi disk then network", testMachine(lab.UEFI, power.BootDisk, power.BootNetwork), "qemu", "q35", firmware.DebianOVMF.Code, "/srv/labs/t/machines/m1/OVMF_VARS.fd", []power.BootDevice{power.BootDisk, power.BootNetwork}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := domainXML(l, tc.m, tc.domType)
			if err != nil {
				t.Fatal(err)
			}
			// Round-trip through XML text, as libvirt receives it.
			s, err := d.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var x libvirtxml.Domain
			if err := x.Unmarshal(s); err != nil {
				t.Fatal(err)
			}
			if x.Type != tc.domType || x.OS.Type.Machine != tc.machine {
				t.Errorf("type %q machine %q, want %q %q", x.Type, x.OS.Type.Machine, tc.domType, tc.machine)
			}
			if x.UUID != tc.m.UUID {
				t.Errorf("uuid %q", x.UUID)
			}
			if x.OS.SMBios == nil || x.OS.SMBios.Mode != "sysinfo" || len(x.SysInfo) == 0 || x.SysInfo[0].SMBIOS == nil {
				t.Fatalf("no SMBIOS sysinfo: %s", s)
			}
			if !slices.Contains(x.SysInfo[0].SMBIOS.System.Entry, libvirtxml.DomainSysInfoEntry{Name: "uuid", Value: tc.m.UUID}) {
				t.Errorf("SMBIOS system uuid missing: %+v", x.SysInfo[0].SMBIOS.System.Entry)
			}
			if n := x.Devices.Interfaces; len(n) != 1 || n[0].MAC.Address != "52:54:00:77:00:11" || n[0].Model.Type != "virtio" || n[0].Source.Network.Network != "labbr0" {
				t.Errorf("interface: %s", s)
			}
			if x.Memory.Value != 512 || x.Memory.Unit != "MiB" || x.VCPU.Value != 2 {
				t.Errorf("memory %+v vcpu %+v", x.Memory, x.VCPU)
			}
			if k := x.Devices.Disks; len(k) != 1 || k[0].Driver.Type != "qcow2" || k[0].Source.File.File != "/srv/labs/t/machines/m1/disk.qcow2" {
				t.Errorf("disk: %s", s)
			}
			ser := x.Devices.Serials
			if len(ser) != 1 || ser[0].Log == nil || ser[0].Log.File != "/srv/labs/t/machines/m1/serial.log" || ser[0].Source.UNIX == nil || ser[0].Source.UNIX.Path != "/srv/labs/t/machines/m1/console.sock" {
				t.Errorf("serial: %s", s)
			}
			var loader, nvram string
			if x.OS.Loader != nil {
				loader = x.OS.Loader.Path
			}
			if x.OS.NVRam != nil {
				nvram = x.OS.NVRam.NVRam
			}
			if loader != tc.loader || nvram != tc.nvram {
				t.Errorf("loader %q nvram %q, want %q %q", loader, nvram, tc.loader, tc.nvram)
			}
			if tc.m.Firmware == lab.BIOS && (x.OS.BIOS == nil || x.OS.BIOS.UseSerial != "yes" || x.OS.BIOS.RebootTimeout == nil || *x.OS.BIOS.RebootTimeout != 5000) {
				t.Errorf("SeaBIOS not on the serial console or not retrying a failed boot after 5 s: %s", s)
			}
			if got := bootOrder(t, &x); !slices.Equal(got, tc.wantBoot) {
				t.Errorf("boot order %v, want %v", got, tc.wantBoot)
			}
			if got := getBoot(&x); got.Order != joinBoot(tc.wantBoot) || got.Once != "" {
				t.Errorf("metadata %+v", got)
			}
		})
	}
}

func TestDomainXMLTPM(t *testing.T) {
	for _, tpm := range []bool{false, true} {
		m := testMachine(lab.UEFI, power.BootNetwork)
		m.TPM = tpm
		d, err := domainXML(testLab(), m, "qemu")
		if err != nil {
			t.Fatal(err)
		}
		s, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var x libvirtxml.Domain
		if err := x.Unmarshal(s); err != nil {
			t.Fatal(err)
		}
		switch {
		case !tpm && len(x.Devices.TPMs) != 0:
			t.Errorf("machine without a TPM has one: %s", s)
		case tpm && (len(x.Devices.TPMs) != 1 || x.Devices.TPMs[0].Model != "tpm-tis" || x.Devices.TPMs[0].Backend == nil ||
			x.Devices.TPMs[0].Backend.Emulator == nil || x.Devices.TPMs[0].Backend.Emulator.Version != "2.0"):
			t.Errorf("want one tpm-tis with a TPM 2.0 emulator backend: %s", s)
		}
	}
}

// TestDomainXMLSecureBoot: a Secure Boot machine gets the Secure Boot
// OVMF with Microsoft's keys as its NVRAM template, secure flash, SMM and
// no option ROM on its NIC; a plain UEFI machine none of them.
func TestDomainXMLSecureBoot(t *testing.T) {
	for _, sb := range []bool{false, true} {
		m := testMachine(lab.UEFI, power.BootNetwork)
		m.SecureBoot = sb
		d, err := domainXML(testLab(), m, "qemu")
		if err != nil {
			t.Fatal(err)
		}
		s, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var x libvirtxml.Domain
		if err := x.Unmarshal(s); err != nil {
			t.Fatal(err)
		}
		want, secure, smm, rom := firmware.DebianOVMF, "", false, false
		if sb {
			want, secure, smm, rom = firmware.DebianOVMFSecureBoot, "yes", true, true
		}
		if x.OS.Loader.Path != want.Code || x.OS.NVRam.Template != want.Vars || x.OS.Loader.Secure != secure ||
			(x.Features.SMM != nil && x.Features.SMM.State == "on") != smm ||
			(x.Devices.Interfaces[0].ROM != nil && x.Devices.Interfaces[0].ROM.Enabled == "no") != rom {
			t.Errorf("secure boot %v: want loader %s (secure %q), template %s, smm %v, NIC ROM off %v: %s", sb, want.Code, secure, want.Vars, smm, rom, s)
		}
	}
}

func TestDomainXMLRejects(t *testing.T) {
	l := testLab()
	for _, tc := range []struct {
		name  string
		edit  func(*lab.Machine)
		field string
	}{
		{"no mac", func(m *lab.Machine) { m.MAC = nil }, "mac"},
		{"upper-case uuid", func(m *lab.Machine) { m.UUID = strings.ToUpper(m.UUID) }, "uuid"},
		{"tiny memory", func(m *lab.Machine) { m.MemoryMiB = 16 }, "memory_mib"},
		{"no vcpu", func(m *lab.Machine) { m.VCPUs = 0 }, "vcpus"},
		{"no disk", func(m *lab.Machine) { m.DiskGiB = 0 }, "disk_gib"},
		{"odd firmware", func(m *lab.Machine) { m.Firmware = "coreboot" }, "firmware"},
		{"odd boot device", func(m *lab.Machine) { m.Boot = []power.BootDevice{"cdrom"} }, "boot device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testMachine(lab.BIOS)
			tc.edit(&m)
			_, err := domainXML(l, m, "qemu")
			if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "m1") {
				t.Fatalf("error %v, want one naming machine m1 and %s", err, tc.field)
			}
		})
	}
}

func TestBootOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		persistent []power.BootDevice
		meta       bootMeta
		want       []power.BootDevice
	}{
		{"once disk over network", []power.BootDevice{power.BootNetwork}, bootMeta{Order: "network", Once: "disk"}, []power.BootDevice{power.BootDisk, power.BootNetwork}},
		{"once network over disk,network", []power.BootDevice{power.BootDisk, power.BootNetwork}, bootMeta{Order: "disk,network", Once: "network"}, []power.BootDevice{power.BootNetwork, power.BootDisk}},
		{"restored", []power.BootDevice{power.BootNetwork}, bootMeta{Order: "network"}, []power.BootDevice{power.BootNetwork}},
		{"persistent disk first", []power.BootDevice{power.BootNetwork}, bootMeta{Order: joinBoot(first(power.BootDisk, []power.BootDevice{power.BootNetwork}))}, []power.BootDevice{power.BootDisk, power.BootNetwork}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := domainXML(testLab(), testMachine(lab.BIOS, tc.persistent...), "qemu")
			if err != nil {
				t.Fatal(err)
			}
			if err := setBoot(d, tc.meta); err != nil {
				t.Fatal(err)
			}
			s, _ := d.Marshal()
			var x libvirtxml.Domain
			if err := x.Unmarshal(s); err != nil {
				t.Fatal(err)
			}
			if got := bootOrder(t, &x); !slices.Equal(got, tc.want) {
				t.Errorf("boot order %v, want %v", got, tc.want)
			}
			if got := getBoot(&x); got.Order != tc.meta.Order || got.Once != tc.meta.Once {
				t.Errorf("metadata read back %+v, want %+v", got, tc.meta)
			}
		})
	}
}

func TestNetworkXML(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       lab.Network
		want    []string
		wantErr string
	}{
		{"bridge without dhcp or dns", testLab().Network, []string{`<bridge name="labbr0"`, `<dns enable="no">`, `<ip address="10.77.0.1" prefix="24">`}, ""},
		{"long name", lab.Network{Name: "a-very-long-bridge", Subnet: netip.MustParsePrefix("10.0.0.0/24"), Gateway: netip.MustParseAddr("10.0.0.1")}, nil, "15 bytes"},
		{"gateway outside", lab.Network{Name: "br", Subnet: netip.MustParsePrefix("10.0.0.0/24"), Gateway: netip.MustParseAddr("10.0.1.1")}, nil, "not an IPv4 address in subnet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := networkXML(tc.n)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("network XML lacks %s:\n%s", w, s)
				}
			}
			for _, bad := range []string{"<dhcp", "<forward", "<domain"} {
				if strings.Contains(s, bad) {
					t.Errorf("network XML has %s:\n%s", bad, s)
				}
			}
		})
	}
}

// UEFI HTTP boot: the NIC boots without iPXE's ROM; a boot-once HTTP boot
// over a PXE machine gets that for that start only, and restoring the order
// gives the ROM back. OVMF's own network boot options are off as
// vm.OVMFNetworkOff says, for each order the domain is given.
func TestDomainXMLHTTPBoot(t *testing.T) {
	// nic reads what d does with its NIC: the ROM off, and its fw_cfg.
	nic := func(d *libvirtxml.Domain) (romOff bool, fwcfg []vm.FWCfg) {
		s, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var x libvirtxml.Domain
		if err := x.Unmarshal(s); err != nil {
			t.Fatal(err)
		}
		if x.SysInfo[0].SMBIOS == nil {
			t.Error("the SMBIOS sysinfo went")
		}
		for _, s := range x.SysInfo {
			if s.FWCfg != nil {
				for _, e := range s.FWCfg.Entry {
					fwcfg = append(fwcfg, vm.FWCfg{Name: e.Name, Value: e.Value})
				}
			}
		}
		rom := x.Devices.Interfaces[0].ROM
		return rom != nil && rom.Enabled == "no", fwcfg
	}
	sb := testMachine(lab.UEFI, power.BootNetwork, power.BootDisk)
	sb.SecureBoot = true
	for _, tt := range []struct {
		name   string
		m      lab.Machine
		set    *bootMeta // then the boot order set through setBoot
		romOff bool
		fwcfg  []vm.FWCfg
	}{
		{"uefi http", testMachine(lab.UEFI, power.BootHTTP, power.BootDisk), nil, true, vm.OVMFNetworkOff(false, power.BootHTTP)},
		{"uefi pxe", testMachine(lab.UEFI, power.BootNetwork, power.BootDisk), nil, false, vm.OVMFNetworkOff(false, power.BootNetwork)},
		{"once http", testMachine(lab.UEFI, power.BootNetwork, power.BootDisk), &bootMeta{Order: "network,disk", Once: "http"}, true, vm.OVMFNetworkOff(false, power.BootHTTP)},
		{"pxe order restored", testMachine(lab.UEFI, power.BootHTTP, power.BootDisk), &bootMeta{Order: "network,disk"}, false, vm.OVMFNetworkOff(false, power.BootNetwork)},
		{"secure boot pxe", sb, nil, true, nil},
		{"uefi disk only", testMachine(lab.UEFI, power.BootDisk), nil, false, nil},
		{"bios", testMachine(lab.BIOS, power.BootNetwork), nil, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := domainXML(testLab(), tt.m, "qemu")
			if err != nil {
				t.Fatal(err)
			}
			if tt.set != nil {
				if err := setBoot(d, *tt.set); err != nil {
					t.Fatal(err)
				}
			}
			if romOff, fwcfg := nic(d); romOff != tt.romOff || !slices.Equal(fwcfg, tt.fwcfg) {
				t.Errorf("ROM off %v, fw_cfg %v; want %v, %v", romOff, fwcfg, tt.romOff, tt.fwcfg)
			}
			if b := d.Devices.Interfaces[0].Boot; tt.m.Boot[0] != power.BootDisk && (b == nil || b.Order != 1) {
				t.Errorf("NIC boot %+v, want order 1", b)
			}
		})
	}
}

// A machine that boots by HTTPS is given what its firmware trusts (the
// lab's certificate as a signature list, a fw_cfg file QEMU gets as is),
// and keeps it when its boot order changes.
func TestDomainXMLHTTPSBoot(t *testing.T) {
	m := testMachine(lab.UEFI, power.BootHTTP, power.BootDisk)
	m.HTTPSBoot = true
	d, err := domainXML(testLab(), m, "qemu")
	if err != nil {
		t.Fatal(err)
	}
	if err := setBoot(d, bootMeta{Order: "network,disk"}); err != nil {
		t.Fatal(err)
	}
	x, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := "<arg value=\"name=etc/edk2/https/cacerts,file=" + pki.HTTPSBootCACerts(testLab().PKIDir()) + "\"></arg>"
	if !strings.Contains(x, "<arg value=\"-fw_cfg\"></arg>") || !strings.Contains(x, want) {
		t.Errorf("domain XML lacks %s after -fw_cfg:\n%s", want, x)
	}
}
