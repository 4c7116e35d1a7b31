package firmware

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/labctl/labctl/internal/filecopy"
)

// Shim and GRUB are the names Secure Boot machines fetch over TFTP: the
// firmware starts Shim (signed by Microsoft), which starts GRUB from the
// same directory under this name (signed by Debian) and checks it against
// the key it carries.
const (
	Shim = "shimx64.efi"
	GRUB = "grubx64.efi"
)

// DebianSigned is where Debian's shim-signed and grub-efi-amd64-signed
// install the signed chain. GRUB is the network build (grubnetx64): its
// prefix is /grub on the TFTP server it came from, and like every signed
// Debian GRUB it has tftp but no http module.
var DebianSigned = map[string]string{
	Shim: "/usr/lib/shim/shimx64.efi.signed",
	GRUB: "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
}

// DebianSignedDisk is the signed chain an install to disk puts on a
// machine's EFI system partition: the same shim, and Debian's disk build of
// GRUB, whose prefix is /EFI/debian on the partition it was loaded from.
var DebianSignedDisk = map[string]string{
	Shim: DebianSigned[Shim],
	GRUB: "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
}

// GRUBMenuDir is where, under the TFTP root, a Secure Boot machine's GRUB
// finds its menu: grub.cfg, which reads the machine's own from
// machines/MAC.cfg (MAC as GRUB's $net_default_mac spells it).
const GRUBMenuDir = "grub"

// grubCfg is the TFTP root's grub/grub.cfg, the one the signed GRUB reads
// (its embedded config sources $prefix/grub.cfg).
const grubCfg = `# Written by labctl for Secure Boot machines (Debian's signed GRUB, which
# reads over TFTP only): each machine's menu is the boot service's /grub
# answer for it.
configfile $prefix/machines/$net_default_mac.cfg
`

// CopySignedTo copies the signed chain (shimx64.efi and grubx64.efi from
// dir, or Debian's when dir is "") into the TFTP root dst and writes the
// GRUB config that sends each machine to its own menu (GRUBMenuPath).
func CopySignedTo(dir, dst string) error {
	for name, src := range DebianSigned {
		if dir != "" {
			src = filepath.Join(dir, name)
		}
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("Secure Boot chain %s: %w (install Debian's shim-signed and grub-efi-amd64-signed, or give a directory holding %s and %s)", name, err, Shim, GRUB)
		}
		if err := filecopy.Copy(src, filepath.Join(dst, name)); err != nil {
			return fmt.Errorf("copy Secure Boot chain %s: %w", name, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dst, GRUBMenuDir, "machines"), 0o755); err != nil {
		return fmt.Errorf("TFTP root: %w", err)
	}
	return os.WriteFile(filepath.Join(dst, GRUBMenuDir, "grub.cfg"), []byte(grubCfg), 0o644)
}

// GRUBMenuPath is where, under the TFTP root, the menu of the machine with
// this MAC address goes: GRUB spells it lower case with colons.
func GRUBMenuPath(mac string) string {
	return filepath.Join(GRUBMenuDir, "machines", mac+".cfg")
}
