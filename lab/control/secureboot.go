package control

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/filecopy"
	"github.com/labctl/labctl/lab"
)

// writeSecureBoot puts into the lab's TFTP root what its Secure Boot
// machines read there (docs/boot-matrix.md): the signed shim and GRUB
// (from dir, "" for Debian's), each machine's menu as the boot service's
// /grub answers it, and the images, because Debian's signed GRUB fetches
// the kernel and initrd over TFTP too (it has no http module). A lab
// without such a machine gets nothing.
func writeSecureBoot(l *lab.Lab, imgs map[string]string, dir string) error {
	var machines []lab.Machine
	for _, m := range l.Machines {
		if m.SecureBoot {
			machines = append(machines, m)
		}
	}
	if len(machines) == 0 {
		return nil
	}
	tftp := l.TFTPDir()
	if err := firmware.CopySignedTo(dir, tftp); err != nil {
		return err
	}
	// The boot service's answers as the lab process will give them: from
	// the data directory just written.
	svc, err := bootsvc.New(bootsvc.Config{DataDir: l.DataDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("Secure Boot menus: %w", err)
	}
	for _, m := range machines {
		mac := strings.ToLower(m.MAC.String())
		menu, err := svc.GRUB("mac=" + mac + "&uuid=" + m.UUID)
		if err != nil {
			return fmt.Errorf("machine %s: Secure Boot menu: %w", m.Name, err)
		}
		if err := os.WriteFile(filepath.Join(tftp, firmware.GRUBMenuPath(mac)), menu, 0o644); err != nil {
			return fmt.Errorf("machine %s: Secure Boot menu: %w", m.Name, err)
		}
	}
	// The menus name /assets/IMAGE/FILE, relative to GRUB's root, the
	// TFTP server: the same files, hard-linked, at the same paths.
	for name, src := range imgs {
		if err := filecopy.LinkFiles(src, filepath.Join(tftp, "assets", name)); err != nil {
			return fmt.Errorf("image %s into the TFTP root: %w", name, err)
		}
	}
	return nil
}
