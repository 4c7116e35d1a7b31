package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"

	"github.com/labctl/labctl/internal/power"
)

// MinMemoryMiB is the least memory a machine may have: the cloud kernel and
// an initramfs in RAM need about this much to boot at all.
const MinMemoryMiB = 256

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// IsDNSLabel says whether s can name a machine (and a lab): lower-case
// letters, digits and '-', at most 63.
func IsDNSLabel(s string) bool { return dnsLabel.MatchString(s) }

// IsUUID accepts lower-case UUIDs only: SMBIOS, iPXE's ${uuid} and the boot
// service's selectors compare them as strings.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// Problem is one thing wrong with a machine: the field, spelled as in
// scenario.yaml, and why.
type Problem struct {
	Field, Reason string
}

// Problems lists everything wrong with m, in field order. It is the one
// validation of a machine: scenarios and both providers use it.
func (m Machine) Problems() []Problem {
	var ps []Problem
	bad := func(field, format string, v ...any) {
		ps = append(ps, Problem{field, fmt.Sprintf(format, v...)})
	}
	if !IsDNSLabel(m.Name) {
		bad("name", "%q is not a DNS label (lower-case letters, digits, '-')", m.Name)
	}
	switch {
	case len(m.MAC) != 6:
		bad("mac", "%q is not a 6-byte MAC address", m.MAC)
	case m.MAC[0]&1 == 1:
		bad("mac", "%s is a multicast address", m.MAC)
	}
	if !IsUUID(m.UUID) {
		bad("uuid", "%q is not a UUID", m.UUID)
	}
	if m.MemoryMiB < MinMemoryMiB {
		bad("memory_mib", "%d MiB is too little (at least %d)", m.MemoryMiB, MinMemoryMiB)
	}
	if m.VCPUs < 1 {
		bad("vcpus", "must be at least 1")
	}
	if m.DiskGiB < 1 {
		bad("disk_gib", "must be at least 1")
	}
	if m.Firmware != BIOS && m.Firmware != UEFI {
		bad("firmware", "%q is neither bios nor uefi", m.Firmware)
	}
	if m.SecureBoot && m.Firmware != UEFI {
		bad("secure_boot", "needs firmware uefi, not %q", m.Firmware)
	}
	if m.HTTPSBoot && m.Firmware != UEFI {
		bad("https_boot", "needs firmware uefi, not %q", m.Firmware)
	}
	if len(m.Boot) == 0 {
		bad("boot", "empty boot order")
	}
	nic := power.BootDevice("")
	for i, d := range m.Boot {
		field := fmt.Sprintf("boot[%d]", i)
		switch {
		case !d.Valid():
			bad(field, "boot device %q %s", d, power.ErrBootDevice)
		case d == power.BootHTTP && m.Firmware != UEFI:
			bad(field, "http (UEFI HTTP boot) needs firmware uefi")
		case d.Network() && nic != "" && nic != d:
			// One NIC, one firmware driver: QEMU's iPXE ROM (PXE) or
			// OVMF's own network stack (HTTP boot).
			bad(field, "%s and %s both boot from the one NIC: choose one", nic, d)
		}
		if d.Network() && nic == "" {
			nic = d
		}
	}
	return ps
}

// Validate returns m's problems as one error naming the machine and each
// field, or nil.
func (m Machine) Validate() error {
	var errs []error
	for _, p := range m.Problems() {
		errs = append(errs, fmt.Errorf("machine %s: %s: %s", m.Name, p.Field, p.Reason))
	}
	return errors.Join(errs...)
}

// IPv6Only says whether m gets no IPv4 address: its IP is an IPv6 one.
func (m Machine) IPv6Only() bool { return m.IP.Is6() }

// Addr6 is m's IPv6 address: its IP if IPv6-only, else its IP6 (invalid
// when it has none).
func (m Machine) Addr6() netip.Addr {
	if m.IPv6Only() {
		return m.IP
	}
	return m.IP6
}
