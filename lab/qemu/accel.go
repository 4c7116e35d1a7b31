package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// probeMarker is where the probe guest must get to: the kernel has run all
// of its init and found no root, which takes well under a second with a
// working KVM (about 2.5 s with TCG here).
const probeMarker = "VFS: Unable to mount root"

// probeTimeout bounds the probe: a KVM guest that hangs (as on this
// machine) shows up as a timeout.
const probeTimeout = 8 * time.Second

// probeRetry is how long a probe that merely timed out is believed: a
// guest can miss the deadline on a busy machine with a working KVM, so
// such an answer is probed again later rather than kept forever.
const probeRetry = time.Hour

// ProbeAccel says whether a real guest runs under KVM here: it boots kernel
// with no root and waits for it to panic. It returns "kvm" or "tcg" and why.
// The answer is cached in cacheFile ("" disables the cache); one from a
// probe that timed out only for probeRetry.
func ProbeAccel(ctx context.Context, binary, kernel, cacheFile string) (accel, why string) {
	return probeCached(ctx, binary, kernel, cacheFile, probe)
}

// probeCached is ProbeAccel with the probe passed in (this machine has no
// working KVM to time out or answer at will).
func probeCached(ctx context.Context, binary, kernel, cacheFile string,
	probe func(ctx context.Context, binary, kernel string) (accel, why string, timedOut bool)) (accel, why string) {
	type cached struct {
		Accel, Why, Binary, Kernel string
		Expires                    time.Time `json:",omitzero"`
	}
	if cacheFile != "" {
		var c cached
		if raw, err := os.ReadFile(cacheFile); err == nil && json.Unmarshal(raw, &c) == nil && c.Binary == binary && c.Kernel == kernel &&
			(c.Expires.IsZero() || time.Now().Before(c.Expires)) {
			return c.Accel, c.Why + " (cached in " + cacheFile + ")"
		}
	}
	accel, why, timedOut := probe(ctx, binary, kernel)
	if cacheFile != "" && ctx.Err() == nil {
		c := cached{Accel: accel, Why: why, Binary: binary, Kernel: kernel}
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
func probe(ctx context.Context, binary, kernel string) (accel, why string, timedOut bool) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return "tcg", "no /dev/kvm", false
	}
	if kernel == "" {
		return "tcg", "no kernel to probe KVM with", false
	}
	dir, err := os.MkdirTemp("", "labctl-kvm-probe-")
	if err != nil {
		return "tcg", err.Error(), false
	}
	defer os.RemoveAll(dir)
	serial := filepath.Join(dir, "serial.log")
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, binary, "-accel", "kvm", "-cpu", "host", "-m", "256",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1", "-serial", "file:"+serial).CombinedOutput()
	log, _ := os.ReadFile(serial)
	switch {
	case strings.Contains(string(log), probeMarker):
		return "kvm", fmt.Sprintf("KVM probe guest reached its end in %v", time.Since(start).Round(10*time.Millisecond)), false
	case ctx.Err() != nil:
		return "tcg", fmt.Sprintf("KVM probe guest hung (no %q within %v)", probeMarker, probeTimeout), true
	default:
		msg := strings.TrimSpace(string(out))
		if i := strings.IndexByte(msg, '\n'); i > 0 {
			msg = msg[:i]
		}
		return "tcg", fmt.Sprintf("KVM probe guest failed: %v: %s", err, msg), false
	}
}
