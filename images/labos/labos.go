// Package labos builds labos, the offline OS lab machines boot: a Debian root
// with etcd, sshd and Ignition, bootable live over HTTP or installed to disk.
package labos

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/tail"
)

// Name is the image's name, and its folder under the boot service's /assets/.
const Name = "labos"

// BuilderVersion changes whenever the build changes in a way its other
// inputs do not show, so that cached images are rebuilt.
const BuilderVersion = "1"

// Output files, as served under /assets/labos/.
const (
	Kernel = "vmlinuz"
	Initrd = "initrd.img"
	Rootfs = "rootfs.squashfs"
)

// Packages go into the image on top of Debian's minbase variant.
var Packages = []string{
	"linux-image-cloud-amd64", "systemd-sysv", "udev", "kmod", "iproute2",
	"openssh-server", "etcd-server", "etcd-client", "curl", "zstd",
	// procps: pgrep, which dracut's network-legacy module requires.
	"procps",
	// Ignition in the initramfs: dracut, network and live-root modules;
	// setfiles because Debian's Ignition relabels what it wrote (against
	// labos's one-line file_contexts, not a policy: SELinux stays off).
	"ignition", "dracut", "dracut-network", "dracut-live", "policycoreutils",
	// The installer: partitions, file systems, GRUB for BIOS and UEFI.
	"gdisk", "e2fsprogs", "dosfstools", "grub-pc-bin", "grub-efi-amd64-bin", "grub2-common",
	// A machine's TPM, read in checks: tpm2_pcrread, tpm2_eventlog, tpm2_readclock.
	"tpm2-tools",
}

// Options qualify a labos build: packages added, a variant, and where a
// build made outside the registry is kept.
type Options struct {
	CacheDir string   // for Build; default images.DefaultCacheDir
	Packages []string // Debian packages added (still the image labos, another key)
	Variant  *Variant // nil: plain labos
	Log      *slog.Logger
}

// Variant is labos with more in it: extra Debian packages and files, built
// and cached as its own image named "labos-<Name>".
type Variant struct {
	Name     string
	Packages []string
	// Files copies host files into the root: root path -> host path (a
	// symbolic link arrives as the same link).
	Files map[string]string
	// FilesKey identifies the content of Files (e.g. the hash of the image
	// they come from), so that new files make a new image.
	FilesKey string
}

// suite is the Debian release labos is built from.
const suite = "bookworm"

//go:embed build.sh rootfs
var buildFiles embed.FS

// Build returns the labos image directory (vmlinuz, initrd.img,
// rootfs.squashfs, root.ext4.zst for the installer, manifest.json), building
// it only when the cache has no image for the same inputs.
func Build(ctx context.Context, opts Options) (*images.Image, error) {
	r, err := NewRecipe(opts)
	if err != nil {
		return nil, err
	}
	return images.OpenCache(opts.CacheDir, opts.Log).Build(ctx, r)
}

// Recipe is labos in the image registry: images.Options' packages added.
func Recipe(opts images.Options) (images.Recipe, error) {
	if len(opts.Versions) > 0 {
		return images.Recipe{}, fmt.Errorf("image %s pins no versions", Name)
	}
	return NewRecipe(Options{Packages: opts.Packages})
}

// NewRecipe is the build of labos as a cache recipe: Debian's minbase from
// the machine's apt sources (SystemSources), with Packages, opts.Packages
// and the variant's.
func NewRecipe(opts Options) (images.Recipe, error) {
	sources, err := SystemSources()
	if err != nil {
		return images.Recipe{}, err
	}
	mirror := sha256.New()
	for _, s := range sources {
		raw, err := os.ReadFile(s)
		if err != nil {
			return images.Recipe{}, fmt.Errorf("apt source %s: %w", s, err)
		}
		mirror.Write(raw)
	}
	scripts, err := images.HashFS(buildFiles)
	if err != nil {
		return images.Recipe{}, fmt.Errorf("hash build scripts: %w", err)
	}
	packages := append(slices.Clone(Packages), opts.Packages...)
	r := images.Recipe{
		Name: Name,
		Inputs: map[string]any{
			"builder":  BuilderVersion,
			"suite":    suite,
			"packages": packages,
			"scripts":  scripts,
			"sources":  hex.EncodeToString(mirror.Sum(nil))[:16],
		},
		Build: func(ctx context.Context, dir string) error {
			return build(ctx, dir, sources, packages, opts.Variant)
		},
	}
	if v := opts.Variant; v != nil {
		r.Name = Name + "-" + v.Name
		r.Inputs["variant"] = map[string]any{"packages": v.Packages, "files": v.FilesKey}
	}
	return r, nil
}

// SystemSources lists the machine's apt source files: the only mirror the
// build may use.
func SystemSources() ([]string, error) {
	var out []string
	if st, err := os.Stat("/etc/apt/sources.list"); err == nil && st.Size() > 0 {
		out = append(out, "/etc/apt/sources.list")
	}
	for _, pat := range []string{"/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"} {
		m, _ := filepath.Glob(pat)
		out = append(out, m...)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("no apt sources in /etc/apt/sources.list or /etc/apt/sources.list.d/")
	}
	return out, nil
}

func build(ctx context.Context, dir string, sources, packages []string, v *Variant) error {
	for _, tool := range []string{"mmdebstrap", "mksquashfs", "mke2fs", "zstd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing (scripts/install-deps.sh installs it): %w", tool, err)
		}
	}
	work, err := os.MkdirTemp("", "labos-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := extract(work); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, ".build.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	if v != nil {
		packages = append(slices.Clone(packages), v.Packages...)
		if err := stageFiles(filepath.Join(work, "rootfs"), v.Files); err != nil {
			return err
		}
	}
	args := append([]string{filepath.Join(work, "build.sh"), dir, filepath.Join(work, "rootfs"), suite}, sources...)
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.Env = append(os.Environ(), "LABOS_PACKAGES="+strings.Join(packages, ","), "LC_ALL=C.UTF-8")
	// Cancelled, the whole script is asked to stop: killing bash alone left
	// mmdebstrap running. What mmdebstrap still leaves mounted (proc, seen
	// after a SIGTERM) the image cache detaches before it removes the build.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("build.sh stopped: %w", ctx.Err())
		}
		return fmt.Errorf("build.sh (log %s): %w\n%s", logf.Name(), err, tail.File(logf.Name(), 20))
	}
	return nil
}

// stageFiles adds a variant's files to the overlay copied into the root,
// hard-linked when they can be (the Kubernetes binary is large). A symbolic
// link stays one, with its target as it is.
func stageFiles(overlay string, files map[string]string) error {
	for dst, src := range files {
		out := filepath.Join(overlay, filepath.FromSlash(path.Clean("/"+dst)))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if target, err := os.Readlink(src); err == nil {
			if err := os.Symlink(target, out); err != nil {
				return fmt.Errorf("variant file %s: %w", dst, err)
			}
			continue
		}
		if err := os.Link(src, out); err == nil {
			continue
		}
		raw, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("variant file %s: %w", dst, err)
		}
		st, err := os.Stat(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, raw, st.Mode().Perm()); err != nil {
			return fmt.Errorf("variant file %s: %w", dst, err)
		}
	}
	return nil
}

// extract writes the embedded build files to dir, scripts executable.
func extract(dir string) error {
	return fs.WalkDir(buildFiles, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		raw, err := buildFiles.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") || path.Base(path.Dir(p)) == "sbin" {
			mode = 0o755
		}
		return os.WriteFile(out, raw, mode)
	})
}
