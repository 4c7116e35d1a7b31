package lab

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// Where a lab's services listen on its gateway, inside its namespace: the
// boot service on BootPort, one IPMI endpoint per machine on IPMIBasePort
// plus the machine's index, one Redfish service for the lab on RedfishPort
// (each machine is /redfish/v1/Systems/{uuid}).
const (
	BootPort     = 8080
	APIPort      = 8081 // the boot service's gRPC API (matchbox's, mutual TLS): matchbox's customary port
	IPMIBasePort = 6230
	RedfishPort  = 8443
	BMCUsername  = "admin"
)

// The layout of a lab's directory. Every file of a lab is named here, so no
// package derives a path of its own.

// DataDir is the boot service's matchbox-layout data directory.
func (l *Lab) DataDir() string { return filepath.Join(l.Dir, "data") }

// AssetsDir holds the image files served under /assets/<image>/.
func (l *Lab) AssetsDir() string { return filepath.Join(l.Dir, "assets") }

// TFTPDir is dnsmasq's TFTP root (the iPXE binaries).
func (l *Lab) TFTPDir() string { return filepath.Join(l.Dir, "tftp") }

// PKIDir holds the lab CA (its key never leaves the host); Kubeconfig is a
// Kubernetes lab's admin kubeconfig.
func (l *Lab) PKIDir() string     { return filepath.Join(l.Dir, "pki") }
func (l *Lab) Kubeconfig() string { return filepath.Join(l.Dir, "kubeconfig") }

// SSHDir holds the lab's login key and the machines' host keys.
func (l *Lab) SSHDir() string { return filepath.Join(l.Dir, "ssh") }

// ProcessLog is the lab process's log (labd.log).
func (l *Lab) ProcessLog() string { return filepath.Join(l.Dir, "labd.log") }

// BootsvcLog is the boot service's request log.
func (l *Lab) BootsvcLog() string { return filepath.Join(l.Dir, "bootsvc.log") }

// DnsmasqConfig, DnsmasqLog and DnsmasqLeases are dnsmasq's files.
func (l *Lab) DnsmasqConfig() string { return filepath.Join(l.Dir, "dnsmasq.conf") }
func (l *Lab) DnsmasqLog() string    { return filepath.Join(l.Dir, "dnsmasq.log") }
func (l *Lab) DnsmasqLeases() string { return filepath.Join(l.Dir, "dnsmasq.leases") }

// BMCPasswordFile (random per lab, mode 0600), BMCCAFile (what Redfish
// clients verify with) and BMCCertFile (the Redfish server's chain) are the
// virtual BMCs' files.
func (l *Lab) BMCPasswordFile() string { return filepath.Join(l.Dir, "bmc-password") }
func (l *Lab) BMCCAFile() string       { return filepath.Join(l.Dir, "bmc-ca.pem") }
func (l *Lab) BMCCertFile() string     { return filepath.Join(l.Dir, "bmc-cert.pem") }

// The boot service API's TLS files: a CA made for the lab, the server's
// certificate and key, and one client certificate and key for the user's
// bootcmd or terraform.
func (l *Lab) APICAFile() string         { return filepath.Join(l.Dir, "api-ca.pem") }
func (l *Lab) APIServerCertFile() string { return filepath.Join(l.Dir, "api-server.pem") }
func (l *Lab) APIServerKeyFile() string  { return filepath.Join(l.Dir, "api-server-key.pem") }
func (l *Lab) APIClientCertFile() string { return filepath.Join(l.Dir, "api-client.pem") }
func (l *Lab) APIClientKeyFile() string  { return filepath.Join(l.Dir, "api-client-key.pem") }

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

// BootBaseURL is the boot service's base URL; BootURL is the first script
// machines chain to.
func (l *Lab) BootBaseURL() string { return "http://" + l.BootAddr() }
func (l *Lab) BootURL() string     { return l.BootBaseURL() + "/boot.ipxe" }

// IPMIAddr is the IPMI endpoint (host:port) of the lab's i-th machine.
func (l *Lab) IPMIAddr(i int) string {
	return netip.AddrPortFrom(l.Network.Gateway, uint16(IPMIBasePort+i)).String()
}

// RedfishAddr is the Redfish service's host:port; RedfishURL its base URL.
func (l *Lab) RedfishAddr() string {
	return netip.AddrPortFrom(l.Network.Gateway, RedfishPort).String()
}
func (l *Lab) RedfishURL() string { return "https://" + l.RedfishAddr() }

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

// MachineFiles are one machine's files, all under <lab dir>/machines/<name>/.
// Both providers keep a machine's disk, NVRAM and serial console here; the
// rest are the QEMU provider's own.
type MachineFiles struct {
	Dir       string
	Disk      string // qcow2
	NVRAM     string // the machine's copy of OVMF_VARS (UEFI only)
	SerialLog string // the serial console's log
	Console   string // unix socket of the serial console
	Record    string // the machine as created (machine.json)
	QMP       string // QEMU's monitor socket
	Events    string // a second QMP socket, held by the lab process for events
	Pid       string // QEMU's pid file
	Boot      string // boot order overrides (boot.json)
	Stdio     string // QEMU's own output
	Fault     string // how QEMU died unasked, if it did
	Restart   string // there while QEMU is started again after a reset
}

// MachineFiles returns the files of the machine called name.
func (l *Lab) MachineFiles(name string) MachineFiles {
	d := filepath.Join(l.MachinesDir(), name)
	return MachineFiles{
		Dir:       d,
		Disk:      filepath.Join(d, "disk.qcow2"),
		NVRAM:     filepath.Join(d, "OVMF_VARS.fd"),
		SerialLog: filepath.Join(d, "serial.log"),
		Console:   filepath.Join(d, "console.sock"),
		Record:    filepath.Join(d, "machine.json"),
		QMP:       filepath.Join(d, "qmp.sock"),
		Events:    filepath.Join(d, "events.sock"),
		Pid:       filepath.Join(d, "qemu.pid"),
		Boot:      filepath.Join(d, "boot.json"),
		Stdio:     filepath.Join(d, "qemu.log"),
		Fault:     filepath.Join(d, "fault"),
		Restart:   filepath.Join(d, "restarting"),
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

// MachineByName returns the machine called name, or an error naming the
// lab's machines.
func (l *Lab) MachineByName(name string) (Machine, int, error) {
	var known []string
	for i, m := range l.Machines {
		if m.Name == name {
			return m, i, nil
		}
		known = append(known, m.Name)
	}
	return Machine{}, -1, fmt.Errorf("lab %s has no machine %q (machines: %s)", l.Name, name, strings.Join(known, ", "))
}
