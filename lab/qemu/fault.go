package qemu

import (
	"context"
	"fmt"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

// Pause freezes the whole guest (QMP stop): its clock, CPUs and devices,
// its I/O drained (a fault step; a snapshot's consistent instant).
func (p *Provider) Pause(ctx context.Context, l *lab.Lab, machine string) error {
	if err := p.running(l, machine, `{"execute":"stop"}`); err != nil {
		return fmt.Errorf("machine %s: pause: %w", machine, err)
	}
	return nil
}

// Resume thaws a guest Pause froze (QMP cont; also after a migration
// ended, which left its disks inactive: cont takes them back); a running
// one is left alone.
func (p *Provider) Resume(ctx context.Context, l *lab.Lab, machine string) error {
	if err := p.running(l, machine, `{"execute":"cont"}`); err != nil {
		return fmt.Errorf("machine %s: resume: %w", machine, err)
	}
	return nil
}

// Paused reports whether QEMU holds the guest stopped.
func (p *Provider) Paused(ctx context.Context, l *lab.Lab, machine string) (bool, error) {
	f := machineFiles(l, machine)
	if qemuPid(f) == 0 {
		return false, fmt.Errorf("machine %s is not running", machine)
	}
	var st struct {
		Running bool   `json:"running"`
		Status  string `json:"status"`
	}
	if err := qmpQuery(f, `{"execute":"query-status"}`, &st); err != nil {
		return false, err
	}
	return !st.Running && st.Status == "paused", nil
}

// SetLink puts the carrier of the machine's NIC (netdev net0, args.go) on
// or off, as pulling its cable would.
func (p *Provider) SetLink(ctx context.Context, l *lab.Lab, machine string, up bool) error {
	return p.running(l, machine, fmt.Sprintf(`{"execute":"set_link","arguments":{"name":%q,"up":%t}}`, bootDeviceID[power.BootNetwork], up))
}

// AttachRelay puts the lab process's link relay between the machine's NIC
// (netdev net0) and the segment (vm.RelayOn).
func (p *Provider) AttachRelay(ctx context.Context, l *lab.Lab, machine string) error {
	for _, cmd := range vm.RelayOn("net0", l.MachineFiles(machine)) {
		if err := p.running(l, machine, cmd); err != nil {
			return fmt.Errorf("machine %s: link relay: %w", machine, err)
		}
	}
	return nil
}

// DetachRelay takes the relay off again; a machine that is not running
// has none.
func (p *Provider) DetachRelay(ctx context.Context, l *lab.Lab, machine string) error {
	f := machineFiles(l, machine)
	if qemuPid(f) == 0 {
		return nil
	}
	for _, cmd := range vm.RelayOff {
		if err := qmpRun(f, cmd); err != nil && !vm.RelayGone(err) {
			return fmt.Errorf("machine %s: take the link relay off: %w", machine, err)
		}
	}
	return nil
}

func (p *Provider) running(l *lab.Lab, machine, cmd string) error {
	f := machineFiles(l, machine)
	if qemuPid(f) == 0 {
		return fmt.Errorf("machine %s is not running", machine)
	}
	return qmpRun(f, cmd)
}
