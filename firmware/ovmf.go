package firmware

import "github.com/labctl/labctl/internal/filecopy"

// OVMF is a build of the UEFI firmware for QEMU: code that every machine
// shares read-only, and a variable store that each machine gets its own copy of.
type OVMF struct {
	Code string // read-only, shared
	Vars string // template of a machine's NVRAM
}

// DebianOVMF is the 4 MiB build from Debian's ovmf package; its code and
// variable store must come from the same build.
var DebianOVMF = OVMF{Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.fd"}

// DebianOVMFSecureBoot is the same package's Secure Boot build: code that
// needs SMM (QEMU's q35 with smm=on and its flash secure) and a variable
// store with Microsoft's keys enrolled and Secure Boot on, so that it
// starts only programs signed by Microsoft (shim) or by keys shim trusts.
var DebianOVMFSecureBoot = OVMF{Code: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"}

// NewNVRAM writes a fresh copy of the variable store to dst, a machine's
// NVRAM: a new or reimaged machine starts from blank firmware settings.
func (o OVMF) NewNVRAM(dst string) error {
	return filecopy.Copy(o.Vars, dst)
}

// OVMFShellPrompt is what OVMF leaves on the console once every boot
// option failed: Debian's OVMF offers its UEFI shell last, and never says
// "No bootable option" while the shell is there.
const OVMFShellPrompt = "Shell> "
