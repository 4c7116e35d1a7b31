package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/labctl/labctl/internal/filecopy"
)

// A saved machine's disk is a qcow2 chain in its directory: the base
// disk.qcow2 (lab.MachineFiles.Disk), then overlays disk.1.qcow2,
// disk.2.qcow2, ..., each naming the one below by its bare name, so that
// the chain works from any directory it is linked into. An image that has
// an overlay is never written again: a snapshot holds hard links to it,
// and a machine restored from one writes an overlay of its own.

// DiskChain lists the disk images in dir by name: the base, then the
// overlays in the order made.
func DiskChain(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if n == "disk.qcow2" || (strings.HasPrefix(n, "disk.") && strings.HasSuffix(n, ".qcow2")) {
			names = append(names, n)
		}
	}
	return names, nil
}

// NewOverlay makes the next overlay in dir on top of the image named top
// (a bare name in dir) and returns its name. -u: QEMU holds top open and
// locked; the size is given, so qemu-img need not read it.
func NewOverlay(ctx context.Context, dir, top string, sizeGiB int) (string, error) {
	names, err := DiskChain(dir)
	if err != nil {
		return "", err
	}
	for n := len(names); ; n++ {
		name := fmt.Sprintf("disk.%d.qcow2", n)
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			continue
		}
		cmd := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b", top, name, fmt.Sprintf("%dG", sizeGiB))
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("qemu-img create %s on %s: %v: %s", name, top, err, strings.TrimSpace(string(out)))
		}
		return name, nil
	}
}

// LinkChain hard-links the images of the chain in from into to, but skip
// (the overlay the machine goes on writing): a snapshot costs nothing for
// images that are not written again. It copies across file systems.
func LinkChain(from, to, skip string) error {
	chain, err := DiskChain(from)
	if err != nil {
		return err
	}
	for _, name := range chain {
		if name == skip {
			continue
		}
		if err := LinkOrCopy(filepath.Join(from, name), filepath.Join(to, name)); err != nil {
			return err
		}
	}
	return nil
}

// LinkOrCopy hard-links src to dst, copying across file systems.
func LinkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return filecopy.Copy(src, dst)
}

// DropOverlays removes the overlays above the base disk in dir, so that a
// machine starts again from the base alone (a reimage).
func DropOverlays(dir string) error {
	chain, err := DiskChain(dir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, name := range chain {
		if name != "disk.qcow2" {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}
