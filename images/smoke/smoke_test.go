package smoke

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/images"
)

// build builds the image in the cache dir, as labctl does, and returns its directory.
func build(ctx context.Context, cacheDir string) (string, error) {
	r, err := Recipe(images.Options{}, firmware.DebianSignedDisk)
	if err != nil {
		return "", err
	}
	img, err := images.OpenCache(cacheDir, slog.New(slog.DiscardHandler)).Build(ctx, r)
	if err != nil {
		return "", err
	}
	return img.Dir, nil
}

func TestBuildContents(t *testing.T) {
	if _, err := DebianInputs(firmware.DebianSignedDisk); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	dir, err := build(context.Background(), cache)
	if err != nil {
		t.Fatal(err)
	}
	again, err := build(context.Background(), cache)
	if err != nil || again != dir {
		t.Fatalf("second build = %q, %v; want the cached %q", again, err, dir)
	}
	out, err := exec.Command("sh", "-c", "gzip -dc "+filepath.Join(dir, "initrd.img")+" | cpio -t").CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v: %s", err, out)
	}
	list := "\n" + string(out)
	for _, want := range []string{"init", "bin/busybox", "bin/sh", "etc/udhcpc.script", "lib/modules/virtio_net.ko", "lib/modules/failover.ko", "lib/modules/virtio_pci.ko", "lib/modules/vfat.ko", "efi/shimx64.efi", "efi/grubx64.efi"} {
		if !strings.Contains(list, "\n"+want+"\n") {
			t.Errorf("initrd lacks %s; it has:\n%s", want, out)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "vmlinuz")); err != nil || st.Size() < 1<<20 {
		t.Errorf("vmlinuz: %v", err)
	}
}

func TestResolveModulesOrder(t *testing.T) {
	dir := t.TempDir()
	dep := "kernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/b.ko: kernel/c.ko\nkernel/c.ko:\nkernel/x-y.ko:\n"
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644)
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"a"}, "kernel/c.ko kernel/b.ko kernel/a.ko"},
		{[]string{"x_y", "c"}, "kernel/x-y.ko kernel/c.ko"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.names, ","), func(t *testing.T) {
			got, err := resolveModules(dir, tt.names)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("order = %v, want %s", got, tt.want)
			}
		})
	}
	if _, err := resolveModules(dir, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("err = %v, want one naming the module", err)
	}
}

// TestBootWithoutNetwork boots the image under QEMU with a NIC on an empty
// hub: the modules must load, the init must say it found no lease, print its
// marker and power the VM off.
func TestBootWithoutNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	if _, err := DebianInputs(firmware.DebianSignedDisk); err != nil {
		t.Fatal(err)
	}
	dir, err := build(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(t.TempDir(), "serial.log")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nodefaults", "-display", "none", "-no-reboot",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initrd.img"),
		"-append", "console=ttyS0 labctl.profile=p1 labctl.report=http://192.0.2.1/report?x",
		"-netdev", "hubport,id=n0,hubid=0", "-device", "virtio-net-pci,netdev=n0",
		"-serial", "file:"+serial).CombinedOutput()
	log, _ := os.ReadFile(serial)
	if err != nil {
		t.Fatalf("qemu: %v: %s\nserial:\n%s", err, out, log)
	}
	for _, want := range []string{Marker + " no DHCP lease on eth0", Marker + " profile=p1 report=failed", "reboot: Power down"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("serial log lacks %q:\n%s", want, log)
		}
	}
}
