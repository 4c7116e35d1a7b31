package labd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/filecopy"
	"github.com/labctl/labctl/lab"
)

// writeGRUBMenus gives each Secure Boot machine its GRUB menu in the TFTP
// root: the boot service's /grub answer for it (docs/boot-matrix.md).
// Debian's signed GRUB reads over TFTP only (no http module), so it cannot
// ask the boot service itself, and it fetches the kernel and initrd over
// TFTP too: the lab's assets are hard-linked into the TFTP root under the
// same /assets/ paths that the menus name. A lab without such a machine
// gets nothing.
func writeGRUBMenus(l *lab.Lab, svc *bootsvc.Server) error {
	linked := false
	for _, m := range l.Machines {
		if !m.SecureBoot {
			continue
		}
		if !linked {
			if err := linkAssets(l.AssetsDir(), filepath.Join(l.TFTPDir(), "assets")); err != nil {
				return fmt.Errorf("assets into the TFTP root: %w", err)
			}
			linked = true
		}
		mac := strings.ToLower(m.MAC.String())
		menu, err := svc.GRUB("mac=" + mac + "&uuid=" + m.UUID)
		if err != nil {
			return fmt.Errorf("machine %s: Secure Boot menu: %w", m.Name, err)
		}
		if err := os.WriteFile(filepath.Join(l.TFTPDir(), firmware.GRUBMenuPath(mac)), menu, 0o644); err != nil {
			return fmt.Errorf("machine %s: Secure Boot menu: %w", m.Name, err)
		}
	}
	return nil
}

// linkAssets hard-links each image folder of src into dst.
func linkAssets(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := filecopy.LinkFiles(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
