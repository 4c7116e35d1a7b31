package libvirt

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/vm"
)

// metaNS names labctl's element in a domain's <metadata>, where the
// persistent boot order and a pending boot-once device are kept, so that
// they survive in libvirt itself and not in a side file.
const metaNS = "https://github.com/labctl/labctl/lab/libvirt"

// bootMeta is labctl's <metadata> element.
type bootMeta struct {
	XMLName xml.Name `xml:"https://github.com/labctl/labctl/lab/libvirt boot"`
	Order   string   `xml:"order,attr"`          // persistent order, comma separated
	Once    string   `xml:"once,attr,omitempty"` // device for the next start only
}

// networkXML describes the lab bridge: the gateway address on it and nothing
// else (no DHCP, no DNS, no forwarding): labctl's dnsmasq serves the lab.
func networkXML(n lab.Network) (string, error) {
	if n.Name == "" || len(n.Name) > 15 {
		return "", fmt.Errorf("network name %q: must be 1 to 15 bytes (a bridge name)", n.Name)
	}
	if !n.Gateway.Is4() || !n.Subnet.Contains(n.Gateway) {
		return "", fmt.Errorf("network %s: gateway %s is not an IPv4 address in subnet %s", n.Name, n.Gateway, n.Subnet)
	}
	net := &libvirtxml.Network{
		Name:   n.Name,
		Bridge: &libvirtxml.NetworkBridge{Name: n.Name, STP: "off", Delay: "0"},
		DNS:    &libvirtxml.NetworkDNS{Enable: "no"},
		IPs:    []libvirtxml.NetworkIP{{Address: n.Gateway.String(), Prefix: uint(n.Subnet.Bits())}},
	}
	return net.Marshal()
}

// domainXML describes machine m of lab l. domType is "kvm" or "qemu" (TCG).
// An empty boot order means network, then disk.
func domainXML(l *lab.Lab, m lab.Machine, domType string) (*libvirtxml.Domain, error) {
	if len(m.Boot) == 0 {
		m.Boot = []power.BootDevice{power.BootNetwork, power.BootDisk}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	f := l.MachineFiles(m.Name)
	port := uint(0)
	d := &libvirtxml.Domain{
		Type:   domType,
		Name:   m.Name,
		UUID:   m.UUID,
		Memory: &libvirtxml.DomainMemory{Value: uint(m.MemoryMiB), Unit: "MiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: uint(m.VCPUs)},
		SysInfo: []libvirtxml.DomainSysInfo{{SMBIOS: &libvirtxml.DomainSysInfoSMBIOS{
			System: &libvirtxml.DomainSysInfoSystem{Entry: []libvirtxml.DomainSysInfoEntry{
				{Name: "manufacturer", Value: "labctl"},
				{Name: "product", Value: "lab machine"},
				{Name: "serial", Value: m.Name},
				{Name: "uuid", Value: m.UUID},
			}},
		}}},
		OS: &libvirtxml.DomainOS{
			Type:   &libvirtxml.DomainOSType{Arch: "x86_64", Type: "hvm"},
			SMBios: &libvirtxml.DomainSMBios{Mode: "sysinfo"},
		},
		Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}},
		OnPoweroff: "destroy",
		// libvirt resets the domain in place and says so; the lab process
		// then starts it again cold (reset.go).
		OnReboot: "restart",
		OnCrash:  "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{{
				Device: "disk",
				Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: f.Disk}},
				Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
			}},
			Interfaces: []libvirtxml.DomainInterface{{
				MAC:    &libvirtxml.DomainInterfaceMAC{Address: m.MAC.String()},
				Source: &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: l.Network.Name}},
				Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
				// QEMU's own virtio-net, not the kernel's vhost-net (libvirt's
				// choice under KVM): QEMU refuses the netdev filters of a
				// delay or reorder fault on a vhost NIC.
				Driver: &libvirtxml.DomainInterfaceDriver{Name: "qemu"},
			}},
			// A unix socket for `labctl console`, logged to a file whatever
			// is connected.
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind", Path: f.Console}},
				Target: &libvirtxml.DomainSerialTarget{Port: &port},
				Log:    &libvirtxml.DomainChardevLog{File: f.SerialLog, Append: "off"},
			}},
		},
	}
	switch m.Firmware {
	case lab.BIOS:
		d.OS.Type.Machine = "pc"
		// SeaBIOS and iPXE print to the serial port too (QEMU's
		// graphics=off); a failed boot is retried (vm.RebootTimeout).
		timeout := int(vm.RebootTimeout.Milliseconds())
		d.OS.BIOS = &libvirtxml.DomainBIOS{UseSerial: "yes", RebootTimeout: &timeout}
	case lab.UEFI:
		d.OS.Type.Machine = "q35"
		fw := ovmf(m)
		d.OS.Loader = &libvirtxml.DomainLoader{Path: fw.Code, Readonly: "yes", Type: "pflash"}
		d.OS.NVRam = &libvirtxml.DomainNVRam{NVRam: f.NVRAM, Template: fw.Vars}
		if m.SecureBoot {
			// As the QEMU provider's: SMM on, flash only SMM may write,
			// the NIC without the unsigned iPXE ROM (setBoot).
			d.OS.Loader.Secure = "yes"
			d.Features.SMM = &libvirtxml.DomainFeatureSMM{State: "on"}
		}
	}
	if m.TPM {
		// libvirtd runs the swtpm itself, its state under the private
		// daemon's /var/lib/libvirt/swtpm (the lab's directory), kept
		// across the domain's restarts; tpm-tis as the QEMU provider's.
		d.Devices.TPMs = []libvirtxml.DomainTPM{{
			Model:   "tpm-tis",
			Backend: &libvirtxml.DomainTPMBackend{Emulator: &libvirtxml.DomainTPMBackendEmulator{Version: "2.0"}},
		}}
	}
	if m.HTTPSBoot {
		// What its firmware trusts for UEFI HTTPS boot, passed to QEMU as is.
		d.QEMUCommandline = &libvirtxml.DomainQEMUCommandline{}
		for _, a := range vm.HTTPSCACertsArgs(pki.HTTPSBootCACerts(l.PKIDir())) {
			d.QEMUCommandline.Args = append(d.QEMUCommandline.Args, libvirtxml.DomainQEMUCommandlineArg{Value: a})
		}
	}
	if err := setBoot(d, bootMeta{Order: joinBoot(m.Boot)}); err != nil {
		return nil, err
	}
	return d, nil
}

// ovmf is m's firmware build: Secure Boot's (Microsoft's keys enrolled)
// or the plain one.
func ovmf(m lab.Machine) firmware.OVMF {
	if m.SecureBoot {
		return firmware.DebianOVMFSecureBoot
	}
	return firmware.DebianOVMF
}

// setBoot records meta in d's metadata and gives the NIC and disk their
// per-device boot order: the once device first if one is pending, else the
// persistent order. Devices left out of the order are not booted from. The
// per-device form excludes <os><boot dev>, so that is cleared.
func setBoot(d *libvirtxml.Domain, meta bootMeta) error {
	order, err := parseBoot(meta.Order)
	if err != nil {
		return err
	}
	if meta.Once != "" {
		once, err := parseBoot(meta.Once)
		if err != nil || len(once) != 1 {
			return fmt.Errorf("domain %s: boot-once device %q is not one device", d.Name, meta.Once)
		}
		order = first(once[0], order)
	}
	raw, err := xml.Marshal(meta)
	if err != nil {
		return err
	}
	d.Metadata = &libvirtxml.DomainMetadata{XML: string(raw)}
	d.OS.BootDevices = nil
	bootOf := func(dev power.BootDevice) *libvirtxml.DomainDeviceBoot {
		if i := slices.Index(order, dev); i >= 0 {
			return &libvirtxml.DomainDeviceBoot{Order: uint(i + 1)}
		}
		return nil
	}
	nic := power.NICBoot(order)
	for i := range d.Devices.Interfaces {
		d.Devices.Interfaces[i].Boot, d.Devices.Interfaces[i].ROM = nil, nil
		if nic != "" {
			d.Devices.Interfaces[i].Boot = bootOf(nic)
		}
		if nic == power.BootHTTP || secureBoot(d) {
			d.Devices.Interfaces[i].ROM = &libvirtxml.DomainROM{Enabled: "no"}
		}
	}
	setFWCfg(d, nic)
	for i := range d.Devices.Disks {
		d.Devices.Disks[i].Boot = bootOf(power.BootDisk)
	}
	return nil
}

// secureBoot reports whether d's firmware enforces Secure Boot: its NIC
// then goes without iPXE's option ROM whatever it boots, as the ROM is
// unsigned and would be refused.
func secureBoot(d *libvirtxml.Domain) bool {
	return d.OS.Loader != nil && d.OS.Loader.Secure == "yes"
}

// setFWCfg gives a UEFI d the firmware configuration its NIC's boot
// takes (vm.OVMFNetworkOff), replacing what it had.
func setFWCfg(d *libvirtxml.Domain, nic power.BootDevice) {
	d.SysInfo = slices.DeleteFunc(d.SysInfo, func(s libvirtxml.DomainSysInfo) bool { return s.FWCfg != nil })
	if d.OS.Loader == nil {
		return
	}
	var entries []libvirtxml.DomainSysInfoEntry
	for _, c := range vm.OVMFNetworkOff(secureBoot(d), nic) {
		entries = append(entries, libvirtxml.DomainSysInfoEntry{Name: c.Name, Value: c.Value})
	}
	if entries != nil {
		d.SysInfo = append(d.SysInfo, libvirtxml.DomainSysInfo{FWCfg: &libvirtxml.DomainSysInfoFWCfg{Entry: entries}})
	}
}

// getBoot reads labctl's metadata back from a domain; a domain without it
// (defined by hand) gets its order from the devices' boot elements.
func getBoot(d *libvirtxml.Domain) bootMeta {
	var meta bootMeta
	if d.Metadata != nil && strings.Contains(d.Metadata.XML, metaNS) {
		dec := xml.NewDecoder(strings.NewReader(d.Metadata.XML))
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Space == metaNS && se.Name.Local == "boot" {
				if dec.DecodeElement(&meta, &se) == nil && meta.Order != "" {
					return meta
				}
			}
		}
	}
	type dev struct {
		order uint
		dev   power.BootDevice
	}
	var devs []dev
	for _, i := range d.Devices.Interfaces {
		if i.Boot != nil {
			devs = append(devs, dev{i.Boot.Order, power.BootNetwork})
		}
	}
	for _, k := range d.Devices.Disks {
		if k.Boot != nil {
			devs = append(devs, dev{k.Boot.Order, power.BootDisk})
		}
	}
	slices.SortFunc(devs, func(a, b dev) int { return int(a.order) - int(b.order) })
	var order []power.BootDevice
	for _, d := range devs {
		order = append(order, d.dev)
	}
	return bootMeta{Order: joinBoot(order)}
}

// first puts dev at the front of order, keeping the rest as they were.
func first(dev power.BootDevice, order []power.BootDevice) []power.BootDevice {
	out := []power.BootDevice{dev}
	for _, o := range order {
		if o != dev {
			out = append(out, o)
		}
	}
	return out
}

func joinBoot(order []power.BootDevice) string {
	s := make([]string, len(order))
	for i, o := range order {
		s[i] = string(o)
	}
	return strings.Join(s, ",")
}

func parseBoot(s string) ([]power.BootDevice, error) {
	if s == "" {
		return nil, nil
	}
	var order []power.BootDevice
	for _, f := range strings.Split(s, ",") {
		dev := power.BootDevice(f)
		if !dev.Valid() {
			return nil, fmt.Errorf("boot device %q %s", f, power.ErrBootDevice)
		}
		order = append(order, dev)
	}
	return order, nil
}
