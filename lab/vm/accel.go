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

// probeRetry is how long a probe that merely timed out is believed: a
// guest can miss the deadline on a busy machine with a working KVM, so
// such an answer is probed again later rather than kept forever.
const probeRetry = time.Hour

// ProbeAccel says whether a real guest runs under KVM here: /dev/kvm opening
// is not enough (on some hosts guests fail inside the firmware or hang). It
// boots a tiny guest (SeaBIOS and the virtio NIC's iPXE ROM, no disk, a NIC
// with no peer) and waits for iPXE's own code to run. It returns KVM or TCG
// and why. The answer is a property of the host and of binary, cached in
// cacheFile ("" disables the cache); one from a probe that timed out only
// for probeRetry.
func ProbeAccel(ctx context.Context, binary, cacheFile string) (Accel, string) {
	return probeCached(ctx, binary, cacheFile, probe)
}

// probeCached is ProbeAccel with the probe passed in (this machine has no
// working KVM to time out or answer at will).
func probeCached(ctx context.Context, binary, cacheFile string,
	probe func(ctx context.Context, binary string) (accel Accel, why string, timedOut bool)) (Accel, string) {
	type cached struct {
		Accel   Accel
		Why     string
		Binary  string
		Expires time.Time `json:",omitzero"`
	}
	if cacheFile != "" {
		var c cached
		if raw, err := os.ReadFile(cacheFile); err == nil && json.Unmarshal(raw, &c) == nil && c.Binary == binary &&
			(c.Expires.IsZero() || time.Now().Before(c.Expires)) {
			return c.Accel, c.Why + " (cached in " + cacheFile + ")"
		}
	}
	accel, why, timedOut := probe(ctx, binary)
	if cacheFile != "" && ctx.Err() == nil {
		c := cached{Accel: accel, Why: why, Binary: binary}
		if timedOut {
			c.Expires = time.Now().Add(probeRetry)
		}
		raw, _ := json.Marshal(c)
		os.MkdirAll(filepath.Dir(cacheFile), 0o755)
		os.WriteFile(cacheFile, raw, 0o644)
	}
	return accel, why
}

// probe returns the accelerator, why, and whether the probe guest merely
// ran out of time.
func probe(ctx context.Context, binary string) (Accel, string, bool) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return TCG, "no usable /dev/kvm: " + err.Error(), false
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
		return TCG, err.Error(), false
	}
	if err := cmd.Start(); err != nil {
		return TCG, "start KVM probe guest: " + err.Error(), false
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var seen bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := out.Read(buf)
		seen.Write(buf[:n])
		if bytes.Contains(seen.Bytes(), []byte(probeMarker)) {
			return KVM, "KVM probe guest reached iPXE in " + time.Since(start).Round(10*time.Millisecond).String(), false
		}
		if err != nil {
			if ctx.Err() != nil {
				return TCG, "KVM probe guest hung (no iPXE within " + probeTimeout.String() + ")", true
			}
			if err != io.EOF {
				return TCG, "KVM probe guest: " + err.Error(), false
			}
			return TCG, "KVM probe guest exited early", false
		}
	}
}
