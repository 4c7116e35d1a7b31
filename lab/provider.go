package lab

import "context"

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

// PowerState is a machine's power as the provider sees it.
type PowerState string

const (
	PowerOn  PowerState = "on"
	PowerOff PowerState = "off"
)

// PowerAction is what a power request asks for.
type PowerAction string

const (
	ActionOn      PowerAction = "on"
	ActionOff     PowerAction = "off"      // hard off
	ActionSoftOff PowerAction = "soft-off" // ACPI shutdown
	ActionCycle   PowerAction = "cycle"    // off, then on (cold start)
	ActionReset   PowerAction = "reset"    // cold start too, so a new boot device takes effect
)

// PowerController is implemented by providers that can drive a machine's power;
// virtual BMCs act through it.
type PowerController interface {
	PowerState(ctx context.Context, l *Lab, machine string) (PowerState, error)
	Power(ctx context.Context, l *Lab, machine string, a PowerAction) error
}

// BootDeviceSetter is implemented by providers that can change the device a
// machine boots from next. once means: this device for the next boot only.
type BootDeviceSetter interface {
	SetBootDevice(ctx context.Context, l *Lab, machine string, d BootDevice, once bool) error
}

// FaultReporter is implemented by providers that can tell a machine whose
// process died unasked from one that was powered off.
type FaultReporter interface {
	// MachineFault says how the machine's process died when nobody asked
	// it to stop (QEMU killed, say), or "" when it runs or was powered off.
	MachineFault(ctx context.Context, l *Lab, machine string) (string, error)
}
