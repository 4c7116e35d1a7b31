package vm

import "github.com/labctl/labctl/internal/power"

// FWCfg is one of QEMU's firmware configuration items (-fw_cfg
// name=NAME,string=VALUE; libvirt's <sysinfo type="fwcfg"> entries).
type FWCfg struct{ Name, Value string }

// OVMFNetworkOff is what switches OVMF's own network boot options off for a
// UEFI machine whose NIC boots by nic, when OVMF's own network stack has
// nothing to do there: each option would wait out its DHCP timeouts, so a
// failed boot took minutes, not seconds, to reach the UEFI shell that
// RetryUEFIBoots starts it again from (docs/benchmarks.md). With iPXE's ROM
// (PXE without Secure Boot) OVMF's IPv4 and IPv6 stacks go too, and HTTP
// boot's options with them: iPXE drives the NIC itself. HTTP boot keeps
// the stacks, without PXE; Secure Boot's PXE is OVMF's own and keeps all.
func OVMFNetworkOff(secureBoot bool, nic power.BootDevice) []FWCfg {
	pxeOff := []FWCfg{{"opt/org.tianocore/IPv4PXESupport", "n"}, {"opt/org.tianocore/IPv6PXESupport", "n"}}
	switch {
	case nic == power.BootHTTP:
		return pxeOff
	case nic == power.BootNetwork && !secureBoot:
		return append(pxeOff, FWCfg{"opt/org.tianocore/IPv4Support", "n"}, FWCfg{"opt/org.tianocore/IPv6Support", "n"})
	}
	return nil
}

// HTTPSCACertsArgs are QEMU's arguments that give OVMF the CA certificates
// it trusts for UEFI HTTPS boot: file, an EFI signature list, as the
// fw_cfg item its TlsAuthConfigDxe stores as the TlsCaCertificate
// variable. Both providers pass them as is (libvirt's <sysinfo
// type="fwcfg"> takes only names under opt/).
func HTTPSCACertsArgs(file string) []string {
	return []string{"-fw_cfg", "name=etc/edk2/https/cacerts,file=" + file}
}
