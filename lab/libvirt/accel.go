package libvirt

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/labctl/labctl/lab"
)

// Domain types: KVM where a guest really runs under it, TCG otherwise.
const (
	accelKVM = "kvm"
	accelTCG = "qemu"
)

// probeMarker is what iPXE prints once it has run its own code: under a
// broken KVM guests stop before this (emulation failure or a hang).
const probeMarker = "iPXE initialising devices...ok"

// probeTimeout bounds the KVM probe; a working KVM gets there in well under a second.
const probeTimeout = 6 * time.Second

// accelerator returns the domain type to use, probing KVM once: the answer is
// kept in the Provider and in the lab's directory, so later calls and later
// processes of the same lab skip the probe.
func (p *Provider) accelerator(ctx context.Context, l *lab.Lab) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	cache := filepath.Join(l.Dir, "libvirt", "accel")
	if p.accel == "" {
		if b, err := os.ReadFile(cache); err == nil {
			if a := strings.TrimSpace(string(b)); a == accelKVM || a == accelTCG {
				p.accel = a
				p.log.Info("accelerator (cached)", "domain_type", a, "file", cache)
			}
		}
	}
	if p.accel == "" {
		start := time.Now()
		ok, why := probeKVM(ctx, l.Netns)
		p.accel = accelTCG
		if ok {
			p.accel = accelKVM
		}
		p.log.Info("accelerator probed", "domain_type", p.accel, "kvm", ok, "why", why, "took", time.Since(start).Round(time.Millisecond))
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err == nil {
		os.WriteFile(cache, []byte(p.accel+"\n"), 0o644)
	}
	return p.accel
}

// probeKVM boots a tiny guest (SeaBIOS and the virtio NIC's iPXE ROM, no
// disk, no network peer) under KVM and reports whether it got as far as
// iPXE's own code within probeTimeout. Like every guest of the lab it runs in
// the lab's namespace.
func probeKVM(ctx context.Context, ns string) (bool, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, "no usable /dev/kvm: " + err.Error()
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	argv := []string{"qemu-system-x86_64", "-accel", "kvm",
		"-machine", "pc,graphics=off", "-nodefaults", "-display", "none", "-m", "64",
		"-serial", "stdio", "-device", "virtio-net-pci", "-boot", "n", "-no-reboot"}
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return false, err.Error()
	}
	if err := cmd.Start(); err != nil {
		return false, "start probe guest: " + err.Error()
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var seen bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := out.Read(buf)
		seen.Write(buf[:n])
		if bytes.Contains(seen.Bytes(), []byte(probeMarker)) {
			return true, "probe guest reached iPXE under KVM"
		}
		if err == io.EOF || err != nil {
			if ctx.Err() != nil {
				return false, "probe guest under KVM did not reach iPXE within " + probeTimeout.String()
			}
			return false, "probe guest under KVM exited early"
		}
	}
}
