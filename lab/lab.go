// Package lab holds the lab model (a network and the machines on it) and the
// interfaces that lab providers (libvirt, qemu) implement.
package lab

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/labctl/labctl/internal/power"
)

// Firmware is the boot firmware of a machine.
type Firmware string

const (
	BIOS Firmware = "bios" // SeaBIOS, PXE through iPXE's undionly.kpxe or the NIC ROM
	UEFI Firmware = "uefi" // OVMF with a per-machine NVRAM copy
)

// Network is the lab's one L2 segment. The bridge carries Gateway, which is
// also where labctl's dnsmasq and boot service listen.
type Network struct {
	Name    string       // bridge / libvirt network name, at most 15 bytes
	Subnet  netip.Prefix // e.g. 10.77.3.0/24, inside the lab's namespace only
	Gateway netip.Addr   // the host side: DHCP, DNS, TFTP, bootsvc, BMCs
	Domain  string       // DNS domain for machine names
	// SiteDHCP, when set, makes the segment a simulated rack's: the named
	// site DHCP server (SiteKea) hands out the machines' addresses and
	// labctl runs neither its boot service nor dnsmasq there.
	SiteDHCP string `json:",omitempty"`
	// Operator, when valid, is the address of an operator's interface on
	// the segment (OperatorInterface, a veth whose peer joins the bridge)
	// in a namespace of its own (Lab.OperatorNetns), where `labctl serve`
	// can run as it would on a rack's server.
	Operator netip.Addr `json:",omitzero"`
	// Subnet6, when valid, is an IPv6 /64 (a unique local prefix, fd00::/8)
	// on the bridge in which dnsmasq hands out addresses by DHCPv6, with
	// reservations, and the boot service listens too (Gateway6): machines
	// whose IP is in it are IPv6-only, those with an IP6 in it dual stack.
	Subnet6 netip.Prefix `json:",omitzero"`
}

// SiteKea is the one site DHCP server a simulated rack runs: Debian's
// kea-dhcp4-server, with a reservation per machine.
const SiteKea = "kea"

// DHCPRole is the state's name for the process that hands out the lab's
// addresses: dnsmasq, or the site's DHCP server.
func (n Network) DHCPRole() string {
	if n.SiteDHCP != "" {
		return n.SiteDHCP
	}
	return "dnsmasq"
}

// RouterPrefix is the IPv6 /64 on the bridge in which the lab's dnsmasq
// answers router solicitations (iPXE waits for an answer): Subnet6, or
// without one a unique local prefix made from Subnet, fd6c:6162:A.B:C.D::/64,
// reachable only inside the lab's namespace like everything else of the lab.
func (n Network) RouterPrefix() netip.Prefix {
	if n.Subnet6.IsValid() {
		return n.Subnet6
	}
	if !n.Subnet.Addr().Is4() {
		return netip.Prefix{}
	}
	a := n.Subnet.Masked().Addr().As4()
	return netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0x6c, 0x61, 0x62, a[0], a[1], a[2], a[3]}), 64)
}

// Gateway6 is the bridge's address in RouterPrefix (::1): dnsmasq's, and
// with Subnet6 the boot service's too.
func (n Network) Gateway6() netip.Addr {
	p := n.RouterPrefix()
	if !p.IsValid() {
		return netip.Addr{}
	}
	return p.Addr().Next()
}

// Machine is one VM (or, with an inventory, one server).
type Machine struct {
	Name string
	MAC  net.HardwareAddr
	UUID string // SMBIOS system UUID, lower case
	// IP is the machine's address, which checks reach it at: an IPv4
	// address in Network.Subnet, or an IPv6 one in Network.Subnet6 for a
	// machine that gets no IPv4 address at all (IPv6-only).
	IP netip.Addr
	// IP6, when valid, is a dual-stack machine's IPv6 address (DHCPv6
	// reservation in Network.Subnet6) beside its IPv4 IP.
	IP6       netip.Addr `json:",omitzero"`
	MemoryMiB int
	VCPUs     int
	DiskGiB   int
	Firmware  Firmware
	Boot      []power.BootDevice // boot order, first entry first
	// BMCProfile names the quirk profile of the machine's virtual Redfish
	// BMC (bmc/virtual's profiles.yaml); "" is the standard one.
	BMCProfile string
	// BMCProtocols are the protocols the machine's virtual BMC speaks
	// (ProtocolIPMI, ProtocolRedfish); empty: both.
	BMCProtocols []string `json:",omitempty"`
	// TPM gives the machine a TPM 2.0 (a software TPM, swtpm, whose state
	// stays in the machine's directory across reboots and reinstalls).
	TPM bool `json:",omitempty"`
	// SecureBoot makes a UEFI machine enforce Secure Boot with Microsoft's
	// keys enrolled: it network-boots Debian's signed shim and GRUB
	// (firmware.SignedChain) and refuses an unsigned program.
	SecureBoot bool `json:",omitempty"`
	// HTTPSBoot makes a UEFI machine's HTTP boot go over TLS: DHCP offers
	// it the boot service's HTTPS URL (HTTPBootURI), and its firmware is
	// given the certificate to trust (HTTPSBootCACerts).
	HTTPSBoot bool `json:",omitempty"`
}

// The protocols a virtual BMC can speak, as scenarios and inventories name them.
const (
	ProtocolIPMI    = "ipmi"
	ProtocolRedfish = "redfish"
)

// Speaks says whether m's virtual BMC speaks protocol.
func (m Machine) Speaks(protocol string) bool {
	if len(m.BMCProtocols) == 0 {
		return true
	}
	for _, p := range m.BMCProtocols {
		if p == protocol {
			return true
		}
	}
	return false
}

// Lab is a network and its machines, as loaded from a scenario.
type Lab struct {
	Name     string // the scenario's name; also names state and namespace
	Netns    string // network namespace every part of the lab lives in
	Dir      string // state directory: state file, disks, logs, keys
	Network  Network
	Machines []Machine
	// Rack, when set, makes the machines a rack's servers, driven through
	// their BMCs: labctl made no namespace, bridge or VM for the lab (Netns
	// is empty: the namespace labctl ran in) and serves on Network.Name,
	// the operator's interface, whose address is Network.Gateway.
	Rack *Rack `json:",omitempty"`
}

// Rack is how a lab reaches its servers: the inventory that lists them and
// their BMCs, which inventory machine each lab machine is, and who hands
// out addresses on the interface (proxy, full or none).
type Rack struct {
	Inventory string            // absolute path of the inventory file
	Servers   map[string]string // lab machine name -> inventory machine name
	DHCP      string
}

// Server is the inventory name of the lab machine called name.
func (r *Rack) Server(name string) string {
	if s := r.Servers[name]; s != "" {
		return s
	}
	return name
}

// Machine returns the machine called name and its index in Machines (which
// places its IPMI port), or an error naming the lab's machines.
func (l *Lab) Machine(name string) (Machine, int, error) {
	var known []string
	for i, m := range l.Machines {
		if m.Name == name {
			return m, i, nil
		}
		known = append(known, m.Name)
	}
	return Machine{}, -1, fmt.Errorf("lab %s has no machine %q (its machines: %s)", l.Name, name, strings.Join(known, ", "))
}
