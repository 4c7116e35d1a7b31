// Package virtual serves BMCs for lab VMs: IPMI over LAN (RMCP+) and Redfish
// over HTTPS, both acting on a machine through power.Controller. Their
// protocols' words (chassis control, ResetType) become package power's here.
package virtual

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/labctl/labctl/internal/power"
)

// What a virtual BMC says it is, over IPMI (Get Device ID) and Redfish (its Manager).
const (
	bmcModel           = "labctl virtual BMC"
	bmcFirmwareMajor   = 1
	bmcFirmwareMinor   = 0
	bmcFirmwareVersion = "1.0"
)

// Override is a BMC's boot source override. A zero Device means none:
// the machine boots in its own order. UEFI (the boot mode) outlives the override.
type Override struct {
	Device power.BootDevice
	Once   bool
	UEFI   bool
	URI    string // with BootHTTP: the EFI binary to fetch (Redfish's HttpBootUri); "": DHCP's
}

// System is one managed machine as its BMCs see it. Its IPMI and Redfish
// faces share it, so both report the same override.
type System struct {
	Name string
	UUID string // lower case; Redfish addresses the system by it
	// Machine is what the BMC acts on: a lab machine (lab.MachinePower) or,
	// in tests, virtualtest.VM. Its cycle and reset must be cold
	// starts, so that a boot device set just before takes effect.
	Machine power.Controller
	// Quirks make its Redfish face behave like a real BMC's (zero: standard).
	Quirks Quirks
	// UEFI is the boot mode reported before any override sets one: the
	// machine's firmware.
	UEFI bool
	// HTTPBootURI, if set, is the one HttpBootUri the machine can honour:
	// its firmware takes the URI from DHCP, which offers this one.
	HTTPBootURI string

	// act serializes what changes the machine (power, boot device), which
	// may take long; mu guards the fields, so reading them never waits
	// for the machine.
	act      sync.Mutex
	mu       sync.Mutex
	override Override
	booted   Override // the override the machine was last powered on with
	modeSet  bool     // override.UEFI was set by a request, not taken from UEFI
	ipmi     ipmiBootParams
	fault    faultState // a misbehaviour armed at run time (faults.go)
}

// id is the system's Redfish Id: its UUID, or a vendor's fixed Id.
func (s *System) id() string {
	if s.Quirks.SystemID != "" {
		return s.Quirks.SystemID
	}
	return strings.ToLower(s.UUID)
}

// Override returns the boot source override in force.
func (s *System) Override() Override {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.modeSet {
		s.override.UEFI = s.UEFI
	}
	return s.override
}

// PowerState reads the machine's power.
func (s *System) PowerState(ctx context.Context) (power.State, error) {
	return s.Machine.PowerState(ctx)
}

// SetPower acts on the machine. Reset and cycle are both sent as a cycle (a
// cold start), so that a boot device set just before takes effect. An action
// that boots the machine consumes a "once" override, as a BIOS clears the flags.
func (s *System) SetPower(ctx context.Context, a power.Action) error {
	if a == power.ActionReset {
		a = power.ActionCycle
	}
	s.act.Lock()
	defer s.act.Unlock()
	if err := s.Machine.SetPower(ctx, a); err != nil {
		return fmt.Errorf("%s: power %s: %w", s.Name, a, err)
	}
	if a == power.ActionOn || a == power.ActionCycle {
		s.mu.Lock()
		s.booted = s.override
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
		if err := s.Machine.SetBootDevice(ctx, power.BootDisk, power.BootOptions{Persistent: !cur.Once}); err != nil {
			return fmt.Errorf("%s: clear boot override: %w", s.Name, err)
		}
	default:
		if err := s.Machine.SetBootDevice(ctx, o.Device, power.BootOptions{Persistent: !o.Once, Mode: o.mode(), URI: o.URI}); err != nil {
			return fmt.Errorf("%s: set boot device %s: %w", s.Name, o.Device, err)
		}
	}
	if o.Device == "" {
		o = Override{UEFI: o.UEFI}
	}
	s.mu.Lock()
	s.override, s.modeSet = o, true
	s.mu.Unlock()
	return nil
}

// mode is the override's boot mode in package power's words.
func (o Override) mode() power.BootMode {
	if o.UEFI {
		return power.BootModeUEFI
	}
	return power.BootModeLegacy
}

// Credentials are the one user a virtual BMC accepts.
type Credentials struct {
	Username string
	Password string
}
