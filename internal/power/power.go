// Package power is the one vocabulary of a machine's power and boot device,
// shared by lab providers, BMC clients and virtual BMCs, and the one
// interface for what drives them. Protocols' own words (IPMI chassis
// control, Redfish ResetType) are translated at their edges only.
package power

import (
	"context"
	"fmt"
)

// State is a machine's power.
type State string

const (
	On  State = "on"
	Off State = "off"
)

// Action is what a power request asks for.
type Action string

const (
	ActionOn      Action = "on"
	ActionOff     Action = "off"      // hard off, at once
	ActionSoftOff Action = "soft-off" // ask the operating system to shut down (ACPI)
	ActionCycle   Action = "cycle"    // off, then on
	ActionReset   Action = "reset"    // hard reset: restart at once, without shutting down
)

// BootAction is what makes a machine in state s boot now: on when it is
// off (a cycle of a machine that is off does nothing on many BMCs), else
// a cycle.
func BootAction(s State) Action {
	if s == Off {
		return ActionOn
	}
	return ActionCycle
}

// ParseAction accepts the names used on the command line.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case ActionOn, ActionOff, ActionSoftOff, ActionCycle, ActionReset:
		return a, nil
	}
	return "", fmt.Errorf("power action %q: want on, off, soft-off, cycle or reset", s)
}

// Expect is the state a successful action leaves the machine in.
func (a Action) Expect() State {
	if a == ActionOff || a == ActionSoftOff {
		return Off
	}
	return On
}

// BootDevice is a device a machine boots from.
type BootDevice string

const (
	BootNetwork BootDevice = "network" // PXE
	BootDisk    BootDevice = "disk"
	// BootHTTP is UEFI HTTP boot from the NIC: the firmware's own network
	// stack fetches an EFI binary from the URL DHCP (or the BMC) gives it,
	// no TFTP. UEFI machines only.
	BootHTTP BootDevice = "http"
)

// Valid says whether d is one of the boot devices above.
func (d BootDevice) Valid() bool {
	return d == BootNetwork || d == BootDisk || d == BootHTTP
}

// Network says whether d boots from the NIC (PXE or HTTP).
func (d BootDevice) Network() bool { return d == BootNetwork || d == BootHTTP }

// NICBoot is how the NIC boots in order: the first of network and http
// in it, "" if neither is. A NIC boots one way: its firmware driver is
// either the PXE ROM or UEFI's own HTTP boot stack.
func NICBoot(order []BootDevice) BootDevice {
	for _, d := range order {
		if d.Network() {
			return d
		}
	}
	return ""
}

// ErrBootDevice is the reason a boot device is refused, for errors that
// name the field or machine before it.
const ErrBootDevice = "is neither network, http nor disk"

// BootMode is the firmware mode a boot override asks for.
type BootMode string

const (
	// BootModeUnchanged leaves the machine's mode alone: a device change
	// must not carry a mode change nobody asked for (some BMCs refuse it,
	// some rewrite the machine's firmware).
	BootModeUnchanged BootMode = ""
	BootModeLegacy    BootMode = "legacy" // BIOS
	BootModeUEFI      BootMode = "uefi"
)

// BootOptions qualify a boot device request.
type BootOptions struct {
	Persistent bool     // false: the next boot only
	Mode       BootMode // machines with fixed firmware ignore it
	// URI is the EFI binary a BootHTTP boot fetches (Redfish's
	// HttpBootUri); empty: the one DHCP offers.
	URI string
}

// StateReader reads a machine's power.
type StateReader interface {
	PowerState(ctx context.Context) (State, error)
}

// Setter asks for a power action.
type Setter interface {
	SetPower(ctx context.Context, a Action) error
}

// BootSetter sets the device a machine boots from.
type BootSetter interface {
	SetBootDevice(ctx context.Context, d BootDevice, o BootOptions) error
}

// Controller drives one machine's power and boot device: a BMC client, a
// lab machine, a virtual BMC's machine.
type Controller interface {
	StateReader
	Setter
	BootSetter
}
