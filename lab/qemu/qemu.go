// Package qemu is the lab.Provider that runs each machine as a QEMU process
// driven over QMP, with a bridge and taps in the lab's namespace: no libvirtd.
package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/proc"
)

// Provider runs machines as QEMU processes. Every method runs in the
// caller's network namespace, which must be the lab's.
type Provider struct {
	log *slog.Logger

	Binary   string        // qemu-system-x86_64
	Firmware firmware.OVMF // for UEFI machines
	// Accel is "kvm" or "tcg"; empty means probe once (ProbeAccel) with
	// ProbeKernel, caching the answer in AccelCache.
	Accel       string
	ProbeKernel string
	AccelCache  string
	// OnProcess, if set, is told each QEMU pid as it starts (0 when it is
	// gone), so the lab's state file can record it.
	OnProcess func(machine string, pid int)

	mu    sync.Mutex
	procs map[string]*exec.Cmd // started by this process; reaped by wait goroutines
}

// New returns a QEMU provider with Debian's paths.
func New(log *slog.Logger) *Provider {
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	kernel := ""
	if len(kernels) > 0 {
		kernel = kernels[len(kernels)-1]
	}
	return &Provider{
		log:         log,
		Binary:      "qemu-system-x86_64",
		Firmware:    firmware.DebianOVMF,
		ProbeKernel: kernel,
		AccelCache:  "/var/lib/labctl/accel.json",
		procs:       map[string]*exec.Cmd{},
	}
}

var (
	_ lab.Provider         = (*Provider)(nil)
	_ lab.PowerController  = (*Provider)(nil)
	_ lab.BootDeviceSetter = (*Provider)(nil)
	_ lab.FaultReporter    = (*Provider)(nil)
)

func (p *Provider) Name() string { return "qemu" }

// Accelerator returns the accelerator machines will use, probing KVM the
// first time it is asked.
func (p *Provider) Accelerator(ctx context.Context) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Accel == "" {
		var why string
		p.Accel, why = ProbeAccel(ctx, p.Binary, p.ProbeKernel, p.AccelCache)
		p.log.Info("accelerator", "accel", p.Accel, "why", why)
	}
	return p.Accel
}

// CreateNetwork adds the lab bridge with the gateway address on it.
func (p *Provider) CreateNetwork(ctx context.Context, l *lab.Lab) error {
	n := l.Network
	if len(n.Name) == 0 || len(n.Name) > 15 {
		return fmt.Errorf("network %q: name must be 1 to 15 bytes", n.Name)
	}
	if !n.Subnet.Contains(n.Gateway) {
		return fmt.Errorf("network %s: gateway %v is outside %v", n.Name, n.Gateway, n.Subnet)
	}
	if !linkExists(ctx, n.Name) {
		if err := ip(ctx, "link", "add", n.Name, "type", "bridge"); err != nil {
			return fmt.Errorf("create bridge %s: %w", n.Name, err)
		}
	}
	addr := fmt.Sprintf("%s/%d", n.Gateway, n.Subnet.Bits())
	if err := ip(ctx, "addr", "replace", addr, "dev", n.Name); err != nil {
		return fmt.Errorf("bridge %s: address %s: %w", n.Name, addr, err)
	}
	if err := ip(ctx, "link", "set", n.Name, "up"); err != nil {
		return fmt.Errorf("bridge %s: %w", n.Name, err)
	}
	return nil
}

// CreateMachine makes m's tap, disk and NVRAM and starts it.
func (p *Provider) CreateMachine(ctx context.Context, l *lab.Lab, m lab.Machine) error {
	if err := validate(m); err != nil {
		return err
	}
	f := machineFiles(l, m.Name)
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	tap := tapName(m.Name)
	if !linkExists(ctx, tap) {
		if err := ip(ctx, "tuntap", "add", "dev", tap, "mode", "tap"); err != nil {
			return fmt.Errorf("machine %s: create tap %s: %w", m.Name, tap, err)
		}
	}
	if err := ip(ctx, "link", "set", tap, "master", l.Network.Name, "up"); err != nil {
		return fmt.Errorf("machine %s: attach tap %s to %s: %w", m.Name, tap, l.Network.Name, err)
	}
	if _, err := os.Stat(f.Disk); err != nil {
		if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", f.Disk, fmt.Sprintf("%dG", m.DiskGiB)).CombinedOutput(); err != nil {
			return fmt.Errorf("machine %s: create disk %s: %v: %s", m.Name, f.Disk, err, out)
		}
	}
	if m.Firmware == lab.UEFI {
		if _, err := os.Stat(f.Vars); err != nil {
			if err := p.Firmware.NewNVRAM(f.Vars); err != nil {
				return fmt.Errorf("machine %s: NVRAM: %w", m.Name, err)
			}
		}
	}
	raw, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(f.Dir, "machine.json"), raw, 0o644); err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	return p.start(ctx, l, m)
}

// Reimage gives m a blank disk and fresh NVRAM; it must be off.
func (p *Provider) Reimage(ctx context.Context, l *lab.Lab, m lab.Machine) error {
	if st, _ := p.PowerState(ctx, l, m.Name); st == lab.PowerOn {
		return fmt.Errorf("machine %s: reimage: power it off first", m.Name)
	}
	f := machineFiles(l, m.Name)
	os.Remove(f.Disk)
	os.Remove(f.Vars)
	return p.CreateMachine(ctx, l, m)
}

// bootOverride is what SetBootDevice stored: a persistent order and a
// device for the next cold start only.
type bootOverride struct {
	Order []lab.BootDevice `json:"order,omitempty"`
	Once  lab.BootDevice   `json:"once,omitempty"`
}

func (p *Provider) start(ctx context.Context, l *lab.Lab, m lab.Machine) error {
	f := machineFiles(l, m.Name)
	boot := m.Boot
	var ov bootOverride
	if raw, err := os.ReadFile(f.Boot); err == nil {
		json.Unmarshal(raw, &ov)
	}
	if len(ov.Order) > 0 {
		boot = ov.Order
	}
	persistent, once := boot, ov.Once
	if once != "" {
		boot = append([]lab.BootDevice{once}, boot...)
	}
	accel := p.Accelerator(ctx)
	// Stale sockets from a crash would make QEMU fail to listen.
	os.Remove(f.Console)
	os.Remove(f.QMP)
	os.Remove(f.Pid)
	os.Remove(f.Fault)
	stdio, err := os.OpenFile(f.Stdio, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	defer stdio.Close()
	cmd := exec.Command(p.Binary, args(m, f, tapName(m.Name), accel, boot, p.Firmware)...)
	cmd.Stdout, cmd.Stderr = stdio, stdio
	// Its own session: a ^C to labctl must not kill the lab's machines.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("machine %s: start %s: %w", m.Name, p.Binary, err)
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
	if ov.Once != "" {
		ov.Once = ""
		if err := writeJSON(f.Boot, ov); err != nil {
			return fmt.Errorf("machine %s: clear one-time boot device: %w", m.Name, err)
		}
	}
	// QEMU has started when its QMP socket answers; a bad argument or a
	// missing tap makes it exit at once, and then we say why.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if mon, err := monitor(f); err == nil {
			mon.Disconnect()
			break
		}
		if !proc.Alive(pid) {
			out, _ := os.ReadFile(f.Stdio)
			return fmt.Errorf("machine %s: qemu exited at start: %s", m.Name, tail(string(out), 5))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("machine %s: qemu's QMP socket %s did not answer in 10s", m.Name, f.QMP)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if once != "" {
		// The firmware has read its boot order for this boot; from the next
		// reset on (the installer's reboot, say) the persistent order holds.
		if err := setBootOrder(f, persistent); err != nil {
			return fmt.Errorf("machine %s: restore boot order after one-time %s boot: %w", m.Name, once, err)
		}
	}
	p.log.Info("machine started", "machine", m.Name, "pid", pid, "accel", accel, "firmware", m.Firmware, "boot", boot)
	return nil
}

// setBootOrder changes the devices' boot indexes of a running machine; QEMU
// hands the new order to the firmware at the next reset.
func setBootOrder(f files, order []lab.BootDevice) error {
	index := bootIndex(order)
	// Two devices may not hold one index at once: first move every device
	// out of the way, then give each its place (-1: not bootable).
	spare := 100
	for _, id := range bootDeviceID {
		spare++
		if err := qmpRun(f, fmt.Sprintf(`{"execute":"qom-set","arguments":{"path":%q,"property":"bootindex","value":%d}}`, id, spare)); err != nil {
			return err
		}
	}
	for d, id := range bootDeviceID {
		i, ok := index[d]
		if !ok {
			i = -1
		}
		if err := qmpRun(f, fmt.Sprintf(`{"execute":"qom-set","arguments":{"path":%q,"property":"bootindex","value":%d}}`, id, i)); err != nil {
			return err
		}
	}
	return nil
}

func (p *Provider) notify(machine string, pid int) {
	if p.OnProcess != nil {
		p.OnProcess(machine, pid)
	}
}

// PowerState is on while the machine's QEMU process runs and its QMP
// status is running (or paused).
func (p *Provider) PowerState(ctx context.Context, l *lab.Lab, machine string) (lab.PowerState, error) {
	f := machineFiles(l, machine)
	if _, err := os.Stat(f.Dir); err != nil {
		return "", fmt.Errorf("no machine %s in lab %s", machine, l.Name)
	}
	if qemuPid(f) == 0 {
		return lab.PowerOff, nil
	}
	return lab.PowerOn, nil
}

// MachineFault implements lab.FaultReporter from the fault file the
// machine's wait goroutine writes when QEMU exits unasked.
func (p *Provider) MachineFault(ctx context.Context, l *lab.Lab, machine string) (string, error) {
	f := machineFiles(l, machine)
	if qemuPid(f) != 0 {
		return "", nil
	}
	raw, err := os.ReadFile(f.Fault)
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(raw), err
}

// Power acts on a machine. Cycle and reset are cold starts (a new QEMU
// process with the same disk and NVRAM), so a new boot device takes effect.
func (p *Provider) Power(ctx context.Context, l *lab.Lab, machine string, a lab.PowerAction) error {
	m, err := p.machine(l, machine)
	if err != nil {
		return err
	}
	f := machineFiles(l, machine)
	switch a {
	case lab.ActionOn:
		if qemuPid(f) != 0 {
			return nil
		}
		return p.start(ctx, l, m)
	case lab.ActionOff:
		return p.stop(ctx, f, machine)
	case lab.ActionSoftOff:
		if qemuPid(f) == 0 {
			return nil
		}
		return qmpRun(f, `{"execute":"system_powerdown"}`)
	case lab.ActionCycle, lab.ActionReset:
		if err := p.stop(ctx, f, machine); err != nil {
			return err
		}
		return p.start(ctx, l, m)
	}
	return fmt.Errorf("machine %s: unknown power action %q", machine, a)
}

// SetBootDevice stores the device for the next cold start (once) or for
// every start; a running machine picks it up on its next power on, cycle or
// reset.
func (p *Provider) SetBootDevice(ctx context.Context, l *lab.Lab, machine string, d lab.BootDevice, once bool) error {
	if d != lab.BootNetwork && d != lab.BootDisk {
		return fmt.Errorf("machine %s: boot device %q is neither network nor disk", machine, d)
	}
	m, err := p.machine(l, machine)
	if err != nil {
		return err
	}
	f := machineFiles(l, machine)
	var ov bootOverride
	if raw, err := os.ReadFile(f.Boot); err == nil {
		json.Unmarshal(raw, &ov)
	}
	if once {
		ov.Once = d
	} else {
		ov.Once = ""
		ov.Order = []lab.BootDevice{d}
		for _, b := range m.Boot {
			if b != d {
				ov.Order = append(ov.Order, b)
			}
		}
	}
	return writeJSON(f.Boot, ov)
}

// machine reads what CreateMachine recorded, so power and boot device work
// in any process (the lab process, a virtual BMC, the CLI).
func (p *Provider) machine(l *lab.Lab, name string) (lab.Machine, error) {
	raw, err := os.ReadFile(filepath.Join(machineFiles(l, name).Dir, "machine.json"))
	if err != nil {
		return lab.Machine{}, fmt.Errorf("no machine %s in lab %s", name, l.Name)
	}
	var m lab.Machine
	if err := json.Unmarshal(raw, &m); err != nil {
		return lab.Machine{}, fmt.Errorf("machine %s: %w", name, err)
	}
	return m, nil
}

// stop quits QEMU over QMP and kills it if it does not go.
func (p *Provider) stop(ctx context.Context, f files, machine string) error {
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

// Destroy stops every machine found under l.Dir (not only those in l, so
// that a half-created lab is cleaned too), deletes taps, disks and the bridge.
func (p *Provider) Destroy(ctx context.Context, l *lab.Lab) error {
	var errs []error
	dirs, _ := filepath.Glob(filepath.Join(l.Dir, "machines", "*"))
	for _, d := range dirs {
		name := filepath.Base(d)
		f := machineFiles(l, name)
		if err := p.stop(ctx, f, name); err != nil {
			errs = append(errs, err)
			continue
		}
		if tap := tapName(name); linkExists(ctx, tap) {
			if err := ip(ctx, "link", "del", tap); err != nil {
				errs = append(errs, fmt.Errorf("machine %s: delete tap %s: %w", name, tap, err))
			}
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	if linkExists(ctx, l.Network.Name) {
		if err := ip(ctx, "link", "del", l.Network.Name); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w", l.Network.Name, err))
		}
	}
	return errors.Join(errs...)
}

// qemuPid returns the pid in the machine's pid file if that process is a
// live QEMU of this machine (pids are reused), else 0.
func qemuPid(f files) int {
	if pid := proc.ReadPidFile(f.Pid); proc.Runs(pid, f.Pid) {
		return pid
	}
	return 0
}

func monitor(f files) (*qmp.SocketMonitor, error) {
	mon, err := qmp.NewSocketMonitor("unix", f.QMP, time.Second)
	if err != nil {
		return nil, err
	}
	if err := mon.Connect(); err != nil {
		return nil, err
	}
	return mon, nil
}

func qmpRun(f files, cmd string) error {
	mon, err := monitor(f)
	if err != nil {
		return fmt.Errorf("QMP %s: %w", f.QMP, err)
	}
	defer mon.Disconnect()
	if _, err := mon.Run([]byte(cmd)); err != nil {
		// quit closes the socket before it answers.
		if strings.Contains(cmd, `"quit"`) && errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("QMP %s: %s: %w", f.QMP, cmd, err)
	}
	return nil
}

func linkExists(ctx context.Context, name string) bool {
	return exec.CommandContext(ctx, "ip", "link", "show", "dev", name).Run() == nil
}

func ip(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, "ip", argv...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func writeJSON(path string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func exitStatus(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ConsoleSocket is the unix socket of the machine's serial console.
func (p *Provider) ConsoleSocket(l *lab.Lab, machine string) string {
	return machineFiles(l, machine).Console
}

// SerialLog is the file the machine's serial console is logged to.
func (p *Provider) SerialLog(l *lab.Lab, machine string) string {
	return machineFiles(l, machine).Serial
}
