// Package firmware locates the boot firmware of lab machines: the iPXE
// binaries that PXE clients fetch over TFTP (Debian's ipxe package, or a
// directory of the user's), copied into a lab's TFTP root, and OVMF for UEFI
// machines, with a per-machine NVRAM.
package firmware

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/labctl/labctl/internal/filecopy"
)

// DebianDir is where Debian's ipxe package installs its binaries; some of
// them are symbolic links into /boot.
const DebianDir = "/usr/lib/ipxe"

// Files are the boot files dnsmasq hands out, by client architecture:
// undionly.kpxe for BIOS PXE, ipxe.efi and snponly.efi for x86-64 UEFI.
var Files = []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"}

// Find returns the real path of each boot file in dir (DebianDir when dir is
// ""), with symbolic links resolved. A missing file is an error that names it.
func Find(dir string) (map[string]string, error) {
	if dir == "" {
		dir = DebianDir
	}
	found := map[string]string{}
	for _, name := range Files {
		p, err := filepath.EvalSymlinks(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("iPXE firmware %s: %w (install Debian's ipxe package or pass a directory holding %v)", name, err, Files)
		}
		found[name] = p
	}
	return found, nil
}

// CopyTo copies the boot files from dir (see Find) into dst as regular
// files, so a TFTP server confined to dst can serve them.
func CopyTo(dir, dst string) error {
	found, err := Find(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("TFTP root: %w", err)
	}
	for name, src := range found {
		if err := filecopy.Copy(src, filepath.Join(dst, name)); err != nil {
			return fmt.Errorf("copy iPXE firmware %s: %w", name, err)
		}
	}
	return nil
}
