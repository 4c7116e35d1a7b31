package qemu

import (
	"context"
	"fmt"
	"os"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

// PowerState is on while the machine's QEMU process runs or is being
// started again after a reset.
func (p *Provider) PowerState(ctx context.Context, l *lab.Lab, machine string) (power.State, error) {
	f := machineFiles(l, machine)
	if _, err := os.Stat(f.Dir); err != nil {
		return "", fmt.Errorf("no machine %s in lab %s", machine, l.Name)
	}
	if qemuPid(f) == 0 {
		if _, err := os.Stat(f.Restart); err != nil {
			return power.Off, nil
		}
	}
	return power.On, nil
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

// SetPower acts on a machine. Cycle and reset are cold starts (a new QEMU
// process with the same disk and NVRAM), so a new boot device takes effect.
func (p *Provider) SetPower(ctx context.Context, l *lab.Lab, machine string, a power.Action) error {
	m, err := vm.Record(l, machine)
	if err != nil {
		return err
	}
	f := machineFiles(l, machine)
	switch a {
	case power.ActionOn:
		if qemuPid(f) != 0 {
			return nil
		}
		return p.start(ctx, l, m, nil)
	case power.ActionOff:
		return p.stop(ctx, f, machine)
	case power.ActionSoftOff:
		if qemuPid(f) == 0 {
			return nil
		}
		return qmpRun(f, `{"execute":"system_powerdown"}`)
	case power.ActionCycle, power.ActionReset:
		if err := p.stop(ctx, f, machine); err != nil {
			return err
		}
		return p.start(ctx, l, m, nil)
	}
	return fmt.Errorf("machine %s: unknown power action %q", machine, a)
}
