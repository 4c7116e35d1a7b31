package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/labctl/labctl/internal/tail"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/proc"
)

// swtpmArgs is swtpm's command line for a machine's TPM 2.0: its state in
// the machine's directory (so PCR-sealed secrets and the endorsement seed
// survive reboots), QEMU connecting to the control socket. --terminate
// ends swtpm when QEMU closes that connection, so each QEMU process has its
// own swtpm and neither outlives the other.
func swtpmArgs(f files) []string {
	return []string{"socket", "--tpm2",
		"--tpmstate", "dir=" + f.TPMState + ",mode=0600",
		"--ctrl", "type=unixio,path=" + f.TPMSocket + ",mode=0600",
		"--pid", "file=" + f.TPMPid,
		"--log", "file=" + f.TPMLog + ",level=1",
		"--terminate",
	}
}

// startTPM runs m's swtpm and returns once its control socket accepts, so
// that QEMU, started next, finds it. The returned stop ends it if QEMU did
// not start (once QEMU connected, swtpm ends with it).
func (p *Provider) startTPM(ctx context.Context, m lab.Machine, f files) (stop func(), err error) {
	if err := os.MkdirAll(f.TPMState, 0o700); err != nil {
		return nil, fmt.Errorf("machine %s: tpm state: %w", m.Name, err)
	}
	// One left by a QEMU that never connected (a crash of the lab process).
	stopTPM(f)
	os.Remove(f.TPMSocket)
	path, err := exec.LookPath(p.SwtpmBinary)
	if err != nil {
		return nil, fmt.Errorf("machine %s: tpm: %w (install Debian's swtpm)", m.Name, err)
	}
	cmd := exec.Command(path, swtpmArgs(f)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("machine %s: start swtpm: %w", m.Name, err)
	}
	pid := cmd.Process.Pid
	role := "swtpm/" + m.Name
	p.mu.Lock()
	p.tpms[m.Name] = pid
	p.mu.Unlock()
	p.notifyRole(role, pid)
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		p.log.Info("swtpm exited", "machine", m.Name, "pid", pid, "status", exitStatus(err))
		// After a reset the next QEMU's swtpm may already run: only the
		// current one's end is recorded.
		p.mu.Lock()
		current := p.tpms[m.Name] == pid
		if current {
			delete(p.tpms, m.Name)
		}
		p.mu.Unlock()
		if current {
			p.notifyRole(role, 0)
		}
		close(exited)
	}()
	stop = func() {
		if proc.Alive(pid) {
			proc.Kill(pid, 2*time.Second)
		}
	}
	// Not a probe connection: with --terminate, swtpm would end when it
	// closed. It writes its pid file once it listens.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(f.TPMSocket); err == nil && proc.ReadPidFile(f.TPMPid) == pid {
			return stop, nil
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(f.TPMLog)
			return nil, fmt.Errorf("machine %s: swtpm exited at start: %s", m.Name, tail.Lines(string(out), 5))
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("machine %s: swtpm's socket %s did not appear in 10s", m.Name, f.TPMSocket)
		}
	}
}

// stopTPM ends m's swtpm if it outlived its QEMU.
func stopTPM(f files) {
	if pid := proc.ReadPidFile(f.TPMPid); proc.Runs(pid, f.TPMPid) {
		proc.Kill(pid, 2*time.Second)
	}
	os.Remove(f.TPMPid)
}
