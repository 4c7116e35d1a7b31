// Package smoke builds the pxe-smoke boot image: Debian's cloud kernel and a
// small busybox initramfs whose init reports the profile it booted, then
// powers off.
package smoke

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/filecopy"
)

//go:embed init.sh
var initScript []byte

//go:embed udhcpc.sh
var udhcpcScript []byte

// Marker starts every line the init prints on the console about its result.
const Marker = "LABCTL-SMOKE:"

// Modules are what the VM needs beyond the cloud kernel's built-ins to reach
// the network, efivarfs to read the Secure Boot state, and the disk and FAT
// for an install (dependencies are added from modules.dep).
var Modules = []string{"virtio_pci", "virtio_net", "efivarfs", "virtio_blk", "vfat", "nls_cp437", "nls_ascii"}

// Inputs are the files the image is built from; the zero value means
// Debian's: the newest /boot/vmlinuz-*, its /lib/modules and busybox-static.
type Inputs struct {
	Kernel     string // a vmlinuz; its version (the name after "vmlinuz-") picks the modules
	ModulesDir string // /lib/modules/<version>
	Busybox    string // a static busybox
	// BootChain is what an install puts on the disk for UEFI to start
	// (firmware.Shim and firmware.GRUB: name -> host path), carried in the
	// initrd under /efi.
	BootChain map[string]string
}

// Name is the image's name, and its folder under the boot service's /assets/.
const Name = "smoke"

// Recipe is the smoke image as a cache recipe, built from Debian's kernel,
// its modules and busybox, with bootChain for its installs (DebianInputs).
// It takes no options.
func Recipe(opts images.Options, bootChain map[string]string) (images.Recipe, error) {
	if len(opts.Packages) > 0 || len(opts.Versions) > 0 {
		return images.Recipe{}, fmt.Errorf("image %s takes no packages or versions", Name)
	}
	in, err := DebianInputs(bootChain)
	if err != nil {
		return images.Recipe{}, err
	}
	return in.Recipe()
}

// DebianInputs finds the newest installed kernel, its modules and busybox;
// bootChain is the boot chain an install puts on the disk (the registry
// gives Debian's signed shim and GRUB: firmware.DebianSignedDisk).
func DebianInputs(bootChain map[string]string) (Inputs, error) {
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		return Inputs{}, errors.New("smoke image: no /boot/vmlinuz-* (install linux-image-cloud-amd64)")
	}
	slices.Sort(kernels)
	k := kernels[len(kernels)-1]
	return Inputs{Kernel: k, ModulesDir: "/lib/modules/" + strings.TrimPrefix(filepath.Base(k), "vmlinuz-"), Busybox: "/bin/busybox",
		BootChain: bootChain}, nil
}

// Recipe is the build from in: vmlinuz and initrd.img.
func (in Inputs) Recipe() (images.Recipe, error) {
	mods, err := resolveModules(in.ModulesDir, Modules)
	if err != nil {
		return images.Recipe{}, err
	}
	chain := slices.Sorted(maps.Values(in.BootChain))
	files, err := identify(slices.Concat([]string{in.Kernel, in.Busybox}, modPaths(in.ModulesDir, mods), chain))
	if err != nil {
		return images.Recipe{}, err
	}
	scripts := sha256.Sum256(append(slices.Clone(initScript), udhcpcScript...))
	return images.Recipe{
		Name: Name,
		Inputs: map[string]any{
			"builder": "smoke v1",
			"scripts": hex.EncodeToString(scripts[:])[:16],
			"files":   files,
		},
		Build: func(ctx context.Context, dir string) error {
			if err := filecopy.Copy(in.Kernel, filepath.Join(dir, "vmlinuz")); err != nil {
				return fmt.Errorf("smoke image: kernel: %w", err)
			}
			return in.writeInitrd(filepath.Join(dir, "initrd.img"), mods)
		},
	}, nil
}

// identify names each input file by path, size and modification time: a
// changed kernel or busybox makes a new image.
func identify(paths []string) ([]string, error) {
	var ids []string
	for _, f := range paths {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("smoke image: %w (scripts/install-deps.sh installs what it is built from)", err)
		}
		ids = append(ids, fmt.Sprintf("%s %d %d", f, st.Size(), st.ModTime().UnixNano()))
	}
	return ids, nil
}

func modPaths(dir string, mods []string) []string {
	var out []string
	for _, m := range mods {
		out = append(out, filepath.Join(dir, m))
	}
	return out
}

func (in Inputs) writeInitrd(dst string, mods []string) error {
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("smoke image: %w", err)
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	c := &cpioWriter{w: gz}
	for _, d := range []string{"bin", "dev", "etc", "lib", "lib/modules", "proc", "sys", "tmp"} {
		c.dir(d)
	}
	bb, err := os.ReadFile(in.Busybox)
	if err != nil {
		return fmt.Errorf("smoke image: busybox: %w", err)
	}
	c.file("bin/busybox", 0o755, bb)
	c.symlink("bin/sh", "busybox")
	c.file("init", 0o755, initScript)
	c.file("etc/udhcpc.script", 0o755, udhcpcScript)
	c.dir("efi")
	for _, name := range slices.Sorted(maps.Keys(in.BootChain)) {
		data, err := os.ReadFile(in.BootChain[name])
		if err != nil {
			return fmt.Errorf("smoke image: boot chain: %w", err)
		}
		c.file("efi/"+name, 0o644, data)
	}
	var order []string
	for _, m := range mods {
		data, err := os.ReadFile(filepath.Join(in.ModulesDir, m))
		if err != nil {
			return fmt.Errorf("smoke image: module: %w", err)
		}
		c.file("lib/modules/"+filepath.Base(m), 0o644, data)
		order = append(order, filepath.Base(m))
	}
	c.file("etc/modules.order", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	if err := c.close(); err != nil {
		return fmt.Errorf("smoke image: write initrd: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("smoke image: write initrd: %w", err)
	}
	return f.Close()
}

// resolveModules returns the modules.dep paths of names and everything they
// depend on, dependencies before the modules that need them.
func resolveModules(dir string, names []string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("smoke image: %w", err)
	}
	defer f.Close()
	deps := map[string][]string{} // path -> dependency paths
	byName := map[string]string{} // module name -> path
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
		byName[moduleName(mod)] = mod
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("smoke image: %s: %w", f.Name(), err)
	}
	var order []string
	seen := map[string]bool{}
	var visit func(p string)
	visit = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, d := range deps[p] {
			visit(d)
		}
		order = append(order, p)
	}
	for _, n := range names {
		p, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("smoke image: module %s is not in %s/modules.dep", n, dir)
		}
		visit(p)
	}
	for _, p := range order {
		if !strings.HasSuffix(p, ".ko") {
			return nil, fmt.Errorf("smoke image: module %s is compressed; busybox insmod needs .ko", p)
		}
	}
	return order, nil
}

// moduleName is what modprobe calls a module: its base name without
// extension, '-' as '_'.
func moduleName(path string) string {
	base := filepath.Base(path)
	base = base[:strings.Index(base, ".ko")]
	return strings.ReplaceAll(base, "-", "_")
}
