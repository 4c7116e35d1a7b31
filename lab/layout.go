package lab

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// Where a lab's services listen on its gateway, inside its namespace: the
// boot service on BootPort (and HTTPSBootPort), one IPMI endpoint per
// machine on IPMIBasePort plus the machine's index, one Redfish service for
// the lab on RedfishPort (each machine is /redfish/v1/Systems/{uuid}).
const (
	BootPort     = 8080
	APIPort      = 8081 // the boot service's gRPC API (matchbox's, mutual TLS): matchbox's customary port
	IPMIBasePort = 6230
	RedfishPort  = 8443
	// HTTPSBootPort is the boot service over HTTPS, for UEFI HTTPS boot
	// (machines with https_boot).
	HTTPSBootPort = 8444
	BMCUsername   = "admin"
)

// The layout of a lab's directory. Every file of a lab is named here, or by
// the package that owns a directory named here (lab/pki in PKIDir, a
// provider in a MachineDir), so no other package derives a path.

// DataDir is the boot service's matchbox-layout data directory.
func (l *Lab) DataDir() string { return filepath.Join(l.Dir, "data") }

// AssetsDir holds the image files served under /assets/<image>/.
func (l *Lab) AssetsDir() string { return filepath.Join(l.Dir, "assets") }

// TFTPDir is dnsmasq's TFTP root (the iPXE binaries).
func (l *Lab) TFTPDir() string { return filepath.Join(l.Dir, "tftp") }

// PKIDir holds the lab CA (its key never leaves the host) and every
// certificate it issued: the lab's services' and the scenario's; Kubeconfig is a
// Kubernetes lab's admin kubeconfig.
func (l *Lab) PKIDir() string     { return filepath.Join(l.Dir, "pki") }
func (l *Lab) Kubeconfig() string { return filepath.Join(l.Dir, "kubeconfig") }

// SSHDir holds the lab's login key and the machines' host keys.
func (l *Lab) SSHDir() string { return filepath.Join(l.Dir, "ssh") }

// ProcessLog is the lab process's log (labd.log).
func (l *Lab) ProcessLog() string { return filepath.Join(l.Dir, "labd.log") }

// MachineLog is the boot service's machine log as a snapshot saved it
// (GET /machines' JSON): a restored lab's boot service starts from it.
func (l *Lab) MachineLog() string { return filepath.Join(l.Dir, "machine-log.json") }

// EventLog is what labctl saw the lab's machines do while it converged
// (lab/eventlog: steps and check results, a JSON object a line), which
// the dashboard and the test report read.
func (l *Lab) EventLog() string { return filepath.Join(l.Dir, "events.jsonl") }

// BootsvcLog is the boot service's request log.
func (l *Lab) BootsvcLog() string { return filepath.Join(l.Dir, "bootsvc.log") }

// DnsmasqConfig, DnsmasqLog and DnsmasqLeases are dnsmasq's files.
func (l *Lab) DnsmasqConfig() string { return filepath.Join(l.Dir, "dnsmasq.conf") }
func (l *Lab) DnsmasqLog() string    { return filepath.Join(l.Dir, "dnsmasq.log") }
func (l *Lab) DnsmasqLeases() string { return filepath.Join(l.Dir, "dnsmasq.leases") }

// KeaConfig, KeaLeases and KeaLog are a simulated rack's site DHCP
// server's files (Network.SiteDHCP); KeaRunDir holds its pid and lock files.
func (l *Lab) KeaConfig() string { return filepath.Join(l.Dir, "kea-dhcp4.conf") }
func (l *Lab) KeaLeases() string { return filepath.Join(l.Dir, "kea-leases4.csv") }
func (l *Lab) KeaLog() string    { return filepath.Join(l.Dir, "kea.log") }
func (l *Lab) KeaRunDir() string { return filepath.Join(l.Dir, "kea") }

// OperatorInterface is the operator's end of the veth into a simulated
// rack's segment, in OperatorNetns; OperatorPort is its peer on the bridge.
const (
	OperatorInterface = "rack0"
	OperatorPort      = "rackop0"
)

// OperatorNetns is the namespace of the operator's interface: the lab's
// namespace's name with "-operator".
func (l *Lab) OperatorNetns() string { return l.Netns + "-operator" }

// BMCPasswordFile is the virtual BMCs' password (random per lab, mode
// 0600). Their certificate, like the boot service API's, comes from the lab
// CA in PKIDir (lab/pki names the files there).
func (l *Lab) BMCPasswordFile() string { return filepath.Join(l.Dir, "bmc-password") }

// BMCFaultSocket is the Unix socket on which the lab process arms and
// clears its virtual BMCs' faults (labctl fault bmc-*).
func (l *Lab) BMCFaultSocket() string { return filepath.Join(l.Dir, "bmc-faults.sock") }

// BootFaultSocket is the Unix socket on which the lab process makes its
// boot service fail on purpose and heals it (labctl fault boot-service-error).
func (l *Lab) BootFaultSocket() string { return filepath.Join(l.Dir, "boot-faults.sock") }

// LinkFaultSocket is the lab process's links API (lab/netem): the relays
// that delay or reorder a machine's frames.
func (l *Lab) LinkFaultSocket() string { return filepath.Join(l.Dir, "link-faults.sock") }

// APIAddr is the boot service API's host:port.
func (l *Lab) APIAddr() string {
	return netip.AddrPortFrom(l.Network.Gateway, APIPort).String()
}

// MachinesDir holds one directory per machine (see MachineFiles).
func (l *Lab) MachinesDir() string { return filepath.Join(l.Dir, "machines") }

// BootAddr is the boot service's host:port.
func (l *Lab) BootAddr() string {
	return netip.AddrPortFrom(l.Network.Gateway, BootPort).String()
}

// BootAddr6 is the boot service's host:port on the lab's IPv6 gateway
// (Network.Gateway6), where it also listens when the lab has Subnet6;
// empty otherwise.
func (l *Lab) BootAddr6() string {
	if !l.Network.Subnet6.IsValid() {
		return ""
	}
	return netip.AddrPortFrom(l.Network.Gateway6(), BootPort).String()
}

// BootURL6 is BootURL on the IPv6 gateway, which DHCPv6 offers iPXE;
// empty without Subnet6.
func (l *Lab) BootURL6() string {
	if a := l.BootAddr6(); a != "" {
		return "http://" + a + "/boot.ipxe"
	}
	return ""
}

// BootBaseURL is the boot service's base URL; BootURL is the first script
// machines chain to.
func (l *Lab) BootBaseURL() string { return "http://" + l.BootAddr() }
func (l *Lab) BootURL() string     { return l.BootBaseURL() + "/boot.ipxe" }

// HTTPBootURI is the EFI binary a machine's firmware fetches by UEFI HTTP
// boot (DHCP offers it to the HTTPClient vendor class): iPXE's EFI build,
// served by the boot service under the machine's MAC, so that its log
// tells the machine apart before iPXE names it; iPXE then chains to
// BootURL as after PXE.
func (l *Lab) HTTPBootURI(m Machine) string {
	base := l.BootBaseURL()
	if m.HTTPSBoot {
		base = l.HTTPSBootBaseURL()
	}
	return base + "/efi/" + strings.ReplaceAll(m.MAC.String(), ":", "-") + "/ipxe.efi"
}

// HTTPSBootAddr is the boot service's HTTPS host:port, which machines with
// HTTPSBoot fetch from (its certificate: lab/pki's HTTPSBoot in PKIDir);
// HTTPSBootBaseURL its base URL.
func (l *Lab) HTTPSBootAddr() string {
	return netip.AddrPortFrom(l.Network.Gateway, HTTPSBootPort).String()
}
func (l *Lab) HTTPSBootBaseURL() string { return "https://" + l.HTTPSBootAddr() }

// HTTPSBoots says whether a machine of the lab boots by HTTPS.
func (l *Lab) HTTPSBoots() bool {
	return slices.ContainsFunc(l.Machines, func(m Machine) bool { return m.HTTPSBoot })
}

// IPMIAddr is the IPMI endpoint (host:port) of the lab's i-th machine.
func (l *Lab) IPMIAddr(i int) string {
	return netip.AddrPortFrom(l.Network.Gateway, uint16(IPMIBasePort+i)).String()
}

// RedfishAddr is the Redfish service's host:port; RedfishURL its base URL.
func (l *Lab) RedfishAddr() string {
	return netip.AddrPortFrom(l.Network.Gateway, RedfishPort).String()
}
func (l *Lab) RedfishURL() string { return "https://" + l.RedfishAddr() }

// MachineDir is where everything of the machine called name is kept: the
// files below, and a provider's own files, which it names itself (the QEMU
// provider's monitor sockets, pid file and markers are lab/qemu's).
func (l *Lab) MachineDir(name string) string { return filepath.Join(l.MachinesDir(), name) }

// MachineRedfishAddr is the Redfish service of the lab's i-th machine: the
// lab's, or, for a machine whose BMC has a quirk profile, one of its own
// on RedfishPort+1+i (a real rack has a BMC per machine, and a quirk such
// as "no sessions" is the whole service's). MachineRedfishURL is its base URL.
func (l *Lab) MachineRedfishAddr(i int) string {
	if l.Machines[i].BMCProfile == "" {
		return l.RedfishAddr()
	}
	return netip.AddrPortFrom(l.Network.Gateway, uint16(RedfishPort+1+i)).String()
}
func (l *Lab) MachineRedfishURL(i int) string { return "https://" + l.MachineRedfishAddr(i) }

// MachineFiles are the files of a machine that both providers keep and
// that others read (progress and checks the serial log, `labctl console`
// the console socket), all in its MachineDir.
type MachineFiles struct {
	Dir       string
	Disk      string // qcow2
	NVRAM     string // the machine's copy of OVMF_VARS (UEFI only)
	SerialLog string // the serial console's log
	Console   string // unix socket of the serial console
	Record    string // the machine as created (machine.json)
	// LinkOut and LinkIn are the lab process's sockets a delay or reorder
	// fault puts between the machine's NIC and the lab's segment (QEMU's
	// filter-redirector): the frames it sends, and the way back.
	LinkOut string
	LinkIn  string
}

// MachineFiles returns the files of the machine called name.
func (l *Lab) MachineFiles(name string) MachineFiles {
	d := l.MachineDir(name)
	return MachineFiles{
		Dir:       d,
		Disk:      filepath.Join(d, "disk.qcow2"),
		NVRAM:     filepath.Join(d, "OVMF_VARS.fd"),
		SerialLog: filepath.Join(d, "serial.log"),
		Console:   filepath.Join(d, "console.sock"),
		Record:    filepath.Join(d, "machine.json"),
		LinkOut:   filepath.Join(d, "link-out.sock"),
		LinkIn:    filepath.Join(d, "link-in.sock"),
	}
}

// MachineNames lists the machines that have a directory, including any
// left by a half-created lab that the model no longer lists.
func (l *Lab) MachineNames() []string {
	dirs, _ := filepath.Glob(filepath.Join(l.MachinesDir(), "*"))
	names := make([]string, len(dirs))
	for i, d := range dirs {
		names[i] = filepath.Base(d)
	}
	return names
}

// AccelFile is where the host's answer to the KVM probe is kept (lab/vm's
// ProbeAccel): a property of the host, not of a lab, so beside the image
// cache in cacheDir, shared by every lab and both providers.
func AccelFile(cacheDir string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(cacheDir)), "accel.json")
}
