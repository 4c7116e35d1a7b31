// Package virtual serves BMCs for lab VMs: IPMI over LAN (RMCP+) and Redfish
// over HTTPS, both acting on a machine through the Machine interface.
package virtual

import (
	"context"
	"fmt"
	"sync"

	"github.com/labctl/labctl/lab"
)

// What a virtual BMC says it is, over IPMI (Get Device ID) and Redfish (its Manager).
const (
	bmcModel           = "labctl virtual BMC"
	bmcFirmwareMajor   = 1
	bmcFirmwareMinor   = 0
	bmcFirmwareVersion = "1.0"
)

// Machine is what a virtual BMC acts on. A lab provider satisfies it through
// LabMachine; tests use virtualtest.Machine. once in SetBootDevice means the
// next boot only, and Power(ActionCycle) must be a cold start so that a new
// boot device takes effect.
type Machine interface {
	PowerState(ctx context.Context) (lab.PowerState, error)
	Power(ctx context.Context, a lab.PowerAction) error
	SetBootDevice(ctx context.Context, d lab.BootDevice, once bool) error
}

// Override is a BMC's boot source override. A zero Device means none:
// the machine boots in its own order. UEFI (the boot mode) outlives the override.
type Override struct {
	Device lab.BootDevice
	Once   bool
	UEFI   bool
}

// System is one managed machine as its BMCs see it. Its IPMI and Redfish
// faces share it, so both report the same override.
type System struct {
	Name    string
	UUID    string // lower case; Redfish addresses the system by it
	Machine Machine

	// act serializes what changes the machine (power, boot device), which
	// may take long; mu guards the fields, so reading them never waits
	// for the machine.
	act      sync.Mutex
	mu       sync.Mutex
	override Override
	ipmi     ipmiBootParams
}

// Override returns the boot source override in force.
func (s *System) Override() Override {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.override
}

// PowerState reads the machine's power.
func (s *System) PowerState(ctx context.Context) (lab.PowerState, error) {
	return s.Machine.PowerState(ctx)
}

// Power acts on the machine. Reset and cycle are both sent as a cycle (a cold
// start), so that a boot device set just before takes effect. An action that
// boots the machine consumes a "once" override, as a BIOS clears the flags.
func (s *System) Power(ctx context.Context, a lab.PowerAction) error {
	if a == lab.ActionReset {
		a = lab.ActionCycle
	}
	s.act.Lock()
	defer s.act.Unlock()
	if err := s.Machine.Power(ctx, a); err != nil {
		return fmt.Errorf("%s: power %s: %w", s.Name, a, err)
	}
	if a == lab.ActionOn || a == lab.ActionCycle {
		s.mu.Lock()
		if s.override.Once {
			s.override = Override{UEFI: s.override.UEFI}
		}
		s.mu.Unlock()
	}
	return nil
}

// SetOverride sets (or, with a zero Device, clears) the boot override.
func (s *System) SetOverride(ctx context.Context, o Override) error {
	s.act.Lock()
	defer s.act.Unlock()
	cur := s.Override()
	switch {
	case o.Device == "" && cur.Device == "":
	case o.Device == "":
		// Undo what was set: a pending "once" is replaced by a one-time disk
		// boot, a persistent override by disk from now on.
		if err := s.Machine.SetBootDevice(ctx, lab.BootDisk, cur.Once); err != nil {
			return fmt.Errorf("%s: clear boot override: %w", s.Name, err)
		}
	default:
		if err := s.Machine.SetBootDevice(ctx, o.Device, o.Once); err != nil {
			return fmt.Errorf("%s: set boot device %s: %w", s.Name, o.Device, err)
		}
	}
	if o.Device == "" {
		o = Override{UEFI: o.UEFI}
	}
	s.mu.Lock()
	s.override = o
	s.mu.Unlock()
	return nil
}

// LabMachine adapts a lab provider to Machine for one of the lab's machines.
type LabMachine struct {
	Provider interface {
		lab.PowerController
		lab.BootDeviceSetter
	}
	Lab  *lab.Lab
	Name string
}

func (m LabMachine) PowerState(ctx context.Context) (lab.PowerState, error) {
	return m.Provider.PowerState(ctx, m.Lab, m.Name)
}

func (m LabMachine) Power(ctx context.Context, a lab.PowerAction) error {
	return m.Provider.Power(ctx, m.Lab, m.Name, a)
}

func (m LabMachine) SetBootDevice(ctx context.Context, d lab.BootDevice, once bool) error {
	return m.Provider.SetBootDevice(ctx, m.Lab, m.Name, d, once)
}

// Credentials are the one user a virtual BMC accepts.
type Credentials struct {
	Username string
	Password string
}
