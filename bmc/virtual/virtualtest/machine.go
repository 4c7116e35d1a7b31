// Package virtualtest holds an in-memory machine for tests of virtual BMCs:
// it stands for a lab VM at the one boundary where a double is fair.
package virtualtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/labctl/labctl/lab"
)

// Machine simulates a VM's power and boot device the way the lab providers
// must behave: a once device is used by the next boot only, and every power
// on, cycle or reset boots (cold) from the device in force.
type Machine struct {
	mu          sync.Mutex
	on          bool
	persistent  lab.BootDevice
	once        lab.BootDevice
	boots       []lab.BootDevice
	ignorePower bool
	// OnBoot, if set before use, is called after each boot with the device booted from.
	OnBoot func(lab.BootDevice)
}

// IgnorePower makes power requests succeed without effect, like a BMC that lies.
func (m *Machine) IgnorePower(ignore bool) {
	m.mu.Lock()
	m.ignorePower = ignore
	m.mu.Unlock()
}

// NewMachine returns a machine that is off and boots from disk.
func NewMachine() *Machine { return &Machine{persistent: lab.BootDisk} }

func (m *Machine) PowerState(context.Context) (lab.PowerState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.on {
		return lab.PowerOn, nil
	}
	return lab.PowerOff, nil
}

func (m *Machine) Power(_ context.Context, a lab.PowerAction) error {
	m.mu.Lock()
	var booted lab.BootDevice
	switch {
	case m.ignorePower:
	case a == lab.ActionOff || a == lab.ActionSoftOff:
		m.on = false
	case a == lab.ActionOn:
		if !m.on {
			booted = m.boot()
		}
	case a == lab.ActionCycle || a == lab.ActionReset:
		booted = m.boot()
	default:
		m.mu.Unlock()
		return fmt.Errorf("unknown power action %q", a)
	}
	hook := m.OnBoot
	m.mu.Unlock()
	if booted != "" && hook != nil {
		hook(booted)
	}
	return nil
}

func (m *Machine) boot() lab.BootDevice {
	d := m.persistent
	if m.once != "" {
		d, m.once = m.once, ""
	}
	m.on = true
	m.boots = append(m.boots, d)
	return d
}

func (m *Machine) SetBootDevice(_ context.Context, d lab.BootDevice, once bool) error {
	if d != lab.BootNetwork && d != lab.BootDisk {
		return fmt.Errorf("boot device %q not supported", d)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if once {
		m.once = d
	} else {
		m.persistent, m.once = d, ""
	}
	return nil
}

// NextBoot returns the device the next boot will use and whether that is a one-time choice.
func (m *Machine) NextBoot() (lab.BootDevice, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.once != "" {
		return m.once, true
	}
	return m.persistent, false
}

// Boots returns the devices booted from, oldest first.
func (m *Machine) Boots() []lab.BootDevice {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]lab.BootDevice(nil), m.boots...)
}

// SetOn sets the power state without booting (the machine was already running).
func (m *Machine) SetOn(on bool) {
	m.mu.Lock()
	m.on = on
	m.mu.Unlock()
}
