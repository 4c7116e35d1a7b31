package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/tail"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/vm"
)

// errStopped: the machine was stopped while it was being started again
// after a reset, or the new process ended before it answered.
var errStopped = errors.New("stopped meanwhile")

// start runs m's QEMU process, booting from a pending one-time device if
// there is one, else in the persistent order, and returns once QMP answers.
// prev is the process that a reset ended, if this is its cold start.
func (p *Provider) start(ctx context.Context, l *lab.Lab, m lab.Machine, prev *exec.Cmd) error {
	return p.startFrom(ctx, l, m, prev, nil)
}

// startIncoming starts m paused, its memory and device state read from
// state (see RestoreMachine).
func (p *Provider) startIncoming(ctx context.Context, l *lab.Lab, m lab.Machine, state *os.File) error {
	return p.startFrom(ctx, l, m, nil, state)
}

// startFrom is start, with the machine's saved state read from incoming
// if it is not nil.
func (p *Provider) startFrom(ctx context.Context, l *lab.Lab, m lab.Machine, prev *exec.Cmd, incoming *os.File) error {
	f := machineFiles(l, m.Name)
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
	endTPM := func() {}
	if m.TPM {
		var err error
		if endTPM, err = p.startTPM(ctx, m, f); err != nil {
			return err
		}
	}
	pid, err := p.spawn(l, m, f, accel, boot, prev, incoming)
	if err != nil {
		endTPM()
		return err
	}
	if ov.Once != "" {
		if err := writeOverride(f, bootOverride{Order: ov.Order}); err != nil {
			return fmt.Errorf("machine %s: clear one-time boot device: %w", m.Name, err)
		}
	}
	if err := waitQMP(ctx, m.Name, f, pid); err != nil {
		endTPM()
		return err
	}
	p.log.Info("machine started", "machine", m.Name, "pid", pid, "accel", accel, "firmware", m.Firmware, "boot", boot)
	return nil
}

// spawn starts QEMU in a session of its own (a ^C to labctl must not kill
// the lab's machines), reaps it when it exits, and starts it again when it
// exited for a reset (see args).
func (p *Provider) spawn(l *lab.Lab, m lab.Machine, f files, accel vm.Accel, boot []power.BootDevice, prev *exec.Cmd, incoming *os.File) (int, error) {
	// Stale sockets from a crash would make QEMU fail to listen.
	os.Remove(f.Console)
	os.Remove(f.QMP)
	os.Remove(f.Events)
	os.Remove(f.Pid)
	os.Remove(f.Fault)
	stdio, err := os.OpenFile(f.Stdio, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("machine %s: %w", m.Name, err)
	}
	defer stdio.Close()
	run := f
	run.Disk = activeDisk(f) // a saved machine writes its overlay
	argv := args(m, run, tapName(m.Name), accel, boot, p.ovmf(m))
	if incoming != nil {
		// Paused once loaded: the lab's machines resume together.
		argv = append(argv, "-S", "-incoming", "fd:3")
	}
	cmd := exec.Command(p.Binary, argv...)
	if incoming != nil {
		cmd.ExtraFiles = []*os.File{incoming} // fd 3
	}
	cmd.Stdout, cmd.Stderr = stdio, stdio
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Started and recorded under the lock: stop, which takes the record
	// first, either prevents a cold start after a reset or finds its QEMU.
	p.mu.Lock()
	if prev != nil && p.procs[m.Name] != prev {
		p.mu.Unlock()
		return 0, errStopped
	}
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return 0, fmt.Errorf("machine %s: start %s: %w", m.Name, p.Binary, err)
	}
	pid := cmd.Process.Pid
	p.procs[m.Name] = cmd
	p.mu.Unlock()
	p.notify(m.Name, pid)
	shutdown := make(chan string, 1)
	go func() { shutdown <- shutdownReason(f, pid) }()
	go func() {
		err := cmd.Wait()
		reason := <-shutdown
		p.log.Info("qemu exited", "machine", m.Name, "pid", pid, "status", exitStatus(err), "reason", reason)
		reset := err == nil && isReset(reason)
		p.mu.Lock()
		current := p.procs[m.Name] == cmd
		if current && !reset {
			delete(p.procs, m.Name)
		}
		p.mu.Unlock()
		if !current {
			return // stopped through this provider
		}
		if reset {
			err = p.restart(l, m, cmd)
			if err == nil || errors.Is(err, errStopped) {
				return
			}
			os.WriteFile(f.Fault, fmt.Appendf(nil, "cold start after a reset (%s) failed: %v at %s", reason, err, time.Now().UTC().Format(time.TimeOnly)), 0o644)
		} else if err != nil {
			// A crash: a guest that powered itself off makes QEMU exit 0.
			os.WriteFile(f.Fault, fmt.Appendf(nil, "QEMU (pid %d) exited unasked: %s at %s", pid, exitStatus(err), time.Now().UTC().Format(time.TimeOnly)), 0o644)
		}
		p.notify(m.Name, 0)
	}()
	return pid, nil
}

// restart starts m again after a reset ended its QEMU process prev. Until
// it runs, the restart file keeps PowerState on: the machine is rebooting,
// not off.
func (p *Provider) restart(l *lab.Lab, m lab.Machine, prev *exec.Cmd) error {
	f := machineFiles(l, m.Name)
	os.WriteFile(f.Restart, nil, 0o644)
	defer os.Remove(f.Restart)
	p.log.Info("machine reset: starting it cold", "machine", m.Name)
	err := p.start(context.Background(), l, m, prev)
	if err == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.procs[m.Name] != prev {
		// Stopped meanwhile, or started and then gone: that process's own
		// wait goroutine tells how it ended.
		return errStopped
	}
	delete(p.procs, m.Name)
	return err
}

// shutdownReason reads QEMU's events until it exits and returns the reason
// of its SHUTDOWN event ("guest-shutdown", "guest-reset", ...), or "" if it
// sent none or the event socket never answered.
func shutdownReason(f files, pid int) string {
	mon, err := monitor(f.Events)
	for err != nil {
		if !proc.Alive(pid) {
			return ""
		}
		time.Sleep(20 * time.Millisecond)
		mon, err = monitor(f.Events)
	}
	defer mon.Disconnect()
	events, _ := mon.Events(context.Background())
	reason := ""
	for e := range events { // closed when QEMU closes the socket on exit
		if e.Event == "SHUTDOWN" {
			reason, _ = e.Data["reason"].(string)
		}
	}
	return reason
}

// isReset says whether QEMU exited for a reset that -no-reboot turned into
// an exit: the guest's own reboot or a system_reset over QMP.
func isReset(reason string) bool {
	return reason == "guest-reset" || reason == "host-qmp-system-reset"
}

// waitQMP returns once QEMU's QMP socket answers; a bad argument or a
// missing tap makes QEMU exit at once, and then it says why.
func waitQMP(ctx context.Context, machine string, f files, pid int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if mon, err := monitor(f.QMP); err == nil {
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
func (p *Provider) stop(ctx context.Context, f files, machine string) error {
	// Asked to stop: its wait goroutine must not take the exit for a crash
	// or a reset.
	p.mu.Lock()
	cmd := p.procs[machine]
	delete(p.procs, machine)
	p.mu.Unlock()
	pid := qemuPid(f)
	if pid == 0 && cmd != nil && proc.Runs(cmd.Process.Pid, f.Pid) {
		pid = cmd.Process.Pid // started after a reset, its pid file not yet written
	}
	if pid == 0 {
		stopTPM(f)
		return nil
	}
	qmpRun(f, `{"execute":"quit"}`)
	if !proc.WaitGone(ctx, pid, 2*time.Second) {
		if err := proc.Kill(pid, 2*time.Second); err != nil {
			return fmt.Errorf("machine %s: qemu: %w", machine, err)
		}
	}
	os.Remove(f.Pid)
	stopTPM(f)
	p.notify(machine, 0)
	return nil
}

// qemuPid returns the pid in the machine's pid file if that process is a
// live QEMU of this machine (pids are reused), else 0.
func qemuPid(f files) int {
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
