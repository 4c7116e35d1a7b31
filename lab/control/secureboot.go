package control

import (
	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/lab"
)

// copySignedChain puts the signed shim and GRUB (from dir, "" for Debian's)
// into the lab's TFTP root if a machine boots with Secure Boot; the lab
// process adds each machine's menu (labd's writeGRUBMenus).
func copySignedChain(l *lab.Lab, dir string) error {
	for _, m := range l.Machines {
		if m.SecureBoot {
			return firmware.CopySignedTo(dir, l.TFTPDir())
		}
	}
	return nil
}
