package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/vm"
	"github.com/labctl/labctl/power"
	"github.com/labctl/labctl/tail"
)

// start runs m's QEMU process, booting from a pending one-time device if
// there is one, else in the persistent order, and returns once QMP answers.
func (p *Provider) start(ctx context.Context, l *lab.Lab, m lab.Machine) error {
	f := l.MachineFiles(m.Name)
	ov := readOverride(f)
	persistent := m.Boot
	if len(ov.Order) > 0 {
		persistent = ov.Order
	}
	boot := persistent
	if ov.Once != "" {
		boot = append([]power.BootDevice{ov.Once}, persistent...)
	}
	accel := p.accel()
	pid, err := p.spawn(m, f, accel, boot)
	if err != nil {
		return err
	}
	if ov.Once != "" {
		if err := writeOverride(f, bootOverride{Order: ov.Order}); err != nil {
			return fmt.Errorf("machine %s: clear one-time boot device: %w", m.Name, err)
		}
	}
	if err := waitQMP(ctx, m.Name, f, pid); err != nil {
		return err
	}
	if ov.Once != "" {
		// The firmware has read its boot order for this boot; from the next
		// reset on (the installer's reboot, say) the persistent order holds.
		if err := setBootOrder(f, persistent); err != nil {
			return fmt.Errorf("machine %s: restore boot order after one-time %s boot: %w", m.Name, ov.Once, err)
		}
	}
	p.log.Info("machine started", "machine", m.Name, "pid", pid, "accel", accel, "firmware", m.Firmware, "boot", boot)
	return nil
}

// spawn starts QEMU in a session of its own (a ^C to labctl must not kill
// the lab's machines) and reaps it when it exits.
func (p *Provider) spawn(m lab.Machine, f lab.MachineFiles, accel vm.Accel, boot []power.BootDevice) (int, error) {
	// Stale sockets from a crash would make QEMU fail to listen.
	os.Remove(f.Console)
	os.Remove(f.QMP)
	os.Remove(f.Pid)
	os.Remove(f.Fault)
	stdio, err := os.OpenFile(f.Stdio, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("machine %s: %w", m.Name, err)
	}
	defer stdio.Close()
	cmd := exec.Command(p.Binary, args(m, f, tapName(m.Name), accel, boot, p.Firmware)...)
	cmd.Stdout, cmd.Stderr = stdio, stdio
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("machine %s: start %s: %w", m.Name, p.Binary, err)
	}
	pid := cmd.Process.Pid
	p.mu.Lock()
	p.procs[m.Name] = cmd
	p.mu.Unlock()
	p.notify(m.Name, pid)
	go func() {
		err := cmd.Wait()
		p.log.Info("qemu exited", "machine", m.Name, "pid", pid, "status", exitStatus(err))
		p.mu.Lock()
		current := p.procs[m.Name] == cmd
		if current {
			delete(p.procs, m.Name)
		}
		p.mu.Unlock()
		if current {
			// Not stopped through this provider: a crash unless the guest
			// powered itself off (QEMU then exits with status 0).
			if err != nil {
				os.WriteFile(f.Fault, fmt.Appendf(nil, "QEMU (pid %d) exited unasked: %s at %s", pid, exitStatus(err), time.Now().UTC().Format(time.TimeOnly)), 0o644)
			}
			p.notify(m.Name, 0)
		}
	}()
	return pid, nil
}

// waitQMP returns once QEMU's QMP socket answers; a bad argument or a
// missing tap makes QEMU exit at once, and then it says why.
func waitQMP(ctx context.Context, machine string, f lab.MachineFiles, pid int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if mon, err := monitor(f); err == nil {
			mon.Disconnect()
			return nil
		}
		if !proc.Alive(pid) {
			out, _ := os.ReadFile(f.Stdio)
			return fmt.Errorf("machine %s: qemu exited at start: %s", machine, tail.Lines(string(out), 5))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("machine %s: qemu's QMP socket %s did not answer in 10s", machine, f.QMP)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop quits QEMU over QMP and kills it if it does not go.
func (p *Provider) stop(ctx context.Context, f lab.MachineFiles, machine string) error {
	pid := qemuPid(f)
	if pid == 0 {
		return nil
	}
	// Asked to stop: its wait goroutine must not take the exit for a crash.
	p.mu.Lock()
	delete(p.procs, machine)
	p.mu.Unlock()
	qmpRun(f, `{"execute":"quit"}`)
	if !proc.WaitGone(ctx, pid, 2*time.Second) {
		if err := proc.Kill(pid, 2*time.Second); err != nil {
			return fmt.Errorf("machine %s: qemu: %w", machine, err)
		}
	}
	os.Remove(f.Pid)
	p.notify(machine, 0)
	return nil
}

// qemuPid returns the pid in the machine's pid file if that process is a
// live QEMU of this machine (pids are reused), else 0.
func qemuPid(f lab.MachineFiles) int {
	if pid := proc.ReadPidFile(f.Pid); proc.Runs(pid, f.Pid) {
		return pid
	}
	return 0
}

func exitStatus(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}
