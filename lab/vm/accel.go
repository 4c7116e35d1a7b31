package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Accel is the accelerator guests run under.
type Accel string

const (
	KVM Accel = "kvm"
	TCG Accel = "tcg" // QEMU's own emulation: slow, but it always works
)

// ParseAccel accepts "", "kvm" or "tcg"; "" means probe.
func ParseAccel(s string) (Accel, error) {
	switch a := Accel(s); a {
	case "", KVM, TCG:
		return a, nil
	}
	return "", fmt.Errorf("accelerator %q is neither kvm nor tcg", s)
}

// probeMarker is what iPXE prints once it has run its own code: under a
// broken KVM guests stop before this (emulation failure or a hang).
const probeMarker = "iPXE initialising devices...ok"

// probeTimeout bounds the probe; a working KVM gets there in well under a second.
const probeTimeout = 6 * time.Second

// ProbeAccel says whether a real guest runs under KVM here: /dev/kvm opening
// is not enough (on some hosts guests fail inside the firmware or hang). It
// boots a tiny guest (SeaBIOS and the virtio NIC's iPXE ROM, no disk, a NIC
// with no peer) and waits for iPXE's own code to run. It returns KVM or TCG
// and why. The answer is a property of the host and of binary, cached in
// cacheFile ("" disables the cache).
func ProbeAccel(ctx context.Context, binary, cacheFile string) (Accel, string) {
	type cached struct {
		Accel  Accel
		Why    string
		Binary string
	}
	if cacheFile != "" {
		var c cached
		if raw, err := os.ReadFile(cacheFile); err == nil && json.Unmarshal(raw, &c) == nil && c.Binary == binary {
			return c.Accel, c.Why + " (cached in " + cacheFile + ")"
		}
	}
	accel, why := probe(ctx, binary)
	if cacheFile != "" && ctx.Err() == nil {
		raw, _ := json.Marshal(cached{accel, why, binary})
		os.MkdirAll(filepath.Dir(cacheFile), 0o755)
		os.WriteFile(cacheFile, raw, 0o644)
	}
	return accel, why
}

func probe(ctx context.Context, binary string) (Accel, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return TCG, "no usable /dev/kvm: " + err.Error()
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, binary, "-accel", "kvm",
		"-machine", "pc,graphics=off", "-nodefaults", "-no-user-config", "-display", "none", "-m", "64",
		"-serial", "stdio", "-device", "virtio-net-pci", "-boot", "n", "-no-reboot")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return TCG, err.Error()
	}
	if err := cmd.Start(); err != nil {
		return TCG, "start KVM probe guest: " + err.Error()
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var seen bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := out.Read(buf)
		seen.Write(buf[:n])
		if bytes.Contains(seen.Bytes(), []byte(probeMarker)) {
			return KVM, "KVM probe guest reached iPXE in " + time.Since(start).Round(10*time.Millisecond).String()
		}
		if err != nil {
			if ctx.Err() != nil {
				return TCG, "KVM probe guest hung (no iPXE within " + probeTimeout.String() + ")"
			}
			if err != io.EOF {
				return TCG, "KVM probe guest: " + err.Error()
			}
			return TCG, "KVM probe guest exited early"
		}
	}
}
