package lab

import (
	"context"

	"github.com/labctl/labctl/internal/power"
)

// Provider creates and destroys a lab's network and machines. Implementations:
// lab/libvirt (a private libvirtd in the lab's namespace) and lab/qemu (QEMU
// processes driven over QMP). Every method runs inside the lab's namespace.
type Provider interface {
	// Name is "libvirt" or "qemu".
	Name() string
	// CreateNetwork brings up the lab bridge with Network.Gateway on it and no
	// DHCP or DNS of its own: labctl's dnsmasq serves those.
	CreateNetwork(ctx context.Context, l *Lab) error
	// CreateMachine defines and starts m, booting in m.Boot order.
	CreateMachine(ctx context.Context, l *Lab, m Machine) error
	// Destroy removes every machine and the network. It is idempotent and
	// works from what is on disk in l.Dir, so it can clean up after a crash.
	Destroy(ctx context.Context, l *Lab) error
}

// MachinesCreator is a provider that creates several machines at once
// faster than one after another (lab/libvirt). Like CreateMachine for each
// of ms; if one fails, it removes the machines it made and names each that
// failed.
type MachinesCreator interface {
	CreateMachines(ctx context.Context, l *Lab, ms []Machine) error
}

// CreateMachines creates ms through p, all at once if p can.
func CreateMachines(ctx context.Context, p Provider, l *Lab, ms []Machine) error {
	if mc, ok := p.(MachinesCreator); ok {
		return mc.CreateMachines(ctx, l, ms)
	}
	for _, m := range ms {
		if err := p.CreateMachine(ctx, l, m); err != nil {
			return err
		}
	}
	return nil
}

// PowerDriver is a provider that drives its machines' power and boot
// devices. Everything else acts on one machine at a time, through
// MachinePower. Providers start a machine cold on reset as on cycle, so that
// a boot device set just before takes effect.
type PowerDriver interface {
	PowerState(ctx context.Context, l *Lab, machine string) (power.State, error)
	SetPower(ctx context.Context, l *Lab, machine string, a power.Action) error
	SetBootDevice(ctx context.Context, l *Lab, machine string, d power.BootDevice, o power.BootOptions) error
}

// MachinePower is machine name of lab l, driven by d, as a power.Controller.
func MachinePower(d PowerDriver, l *Lab, name string) power.Controller {
	return machinePower{d, l, name}
}

type machinePower struct {
	d    PowerDriver
	l    *Lab
	name string
}

func (m machinePower) PowerState(ctx context.Context) (power.State, error) {
	return m.d.PowerState(ctx, m.l, m.name)
}

func (m machinePower) SetPower(ctx context.Context, a power.Action) error {
	return m.d.SetPower(ctx, m.l, m.name, a)
}

func (m machinePower) SetBootDevice(ctx context.Context, d power.BootDevice, o power.BootOptions) error {
	return m.d.SetBootDevice(ctx, m.l, m.name, d, o)
}

// FaultReporter is implemented by providers that can tell a machine whose
// process died unasked from one that was powered off.
type FaultReporter interface {
	// MachineFault says how the machine's process died when nobody asked
	// it to stop (QEMU killed, say), or "" when it runs or was powered off.
	MachineFault(ctx context.Context, l *Lab, machine string) (string, error)
}
