// Package virtualtest holds an in-memory machine for tests of virtual BMCs:
// it stands for a lab VM at the one boundary where a double is fair.
package virtualtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/labctl/labctl/internal/power"
)

// VM simulates a VM's power and boot device the way the lab providers
// must behave: a once device is used by the next boot only, and every power
// on, cycle or reset boots (cold) from the device in force.
type VM struct {
	mu          sync.Mutex
	on          bool
	persistent  power.BootDevice
	once        power.BootDevice
	uri         string // the last boot request's URI (UEFI HTTP boot)
	boots       []power.BootDevice
	ignorePower bool
	// OnBoot, if set before use, is called after each boot with the device booted from.
	OnBoot func(power.BootDevice)
}

// IgnorePower makes power requests succeed without effect, like a BMC that lies.
func (m *VM) IgnorePower(ignore bool) {
	m.mu.Lock()
	m.ignorePower = ignore
	m.mu.Unlock()
}

// NewVM returns a VM that is off and boots from disk.
func NewVM() *VM { return &VM{persistent: power.BootDisk} }

func (m *VM) PowerState(context.Context) (power.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.on {
		return power.On, nil
	}
	return power.Off, nil
}

func (m *VM) SetPower(_ context.Context, a power.Action) error {
	m.mu.Lock()
	var booted power.BootDevice
	switch {
	case m.ignorePower:
	case a == power.ActionOff || a == power.ActionSoftOff:
		m.on = false
	case a == power.ActionOn:
		if !m.on {
			booted = m.boot()
		}
	case a == power.ActionCycle || a == power.ActionReset:
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

func (m *VM) boot() power.BootDevice {
	d := m.persistent
	if m.once != "" {
		d, m.once = m.once, ""
	}
	m.on = true
	m.boots = append(m.boots, d)
	return d
}

func (m *VM) SetBootDevice(_ context.Context, d power.BootDevice, o power.BootOptions) error {
	if !d.Valid() {
		return fmt.Errorf("boot device %q not supported", d)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uri = o.URI
	if !o.Persistent {
		m.once = d
	} else {
		m.persistent, m.once = d, ""
	}
	return nil
}

// NextBoot returns the device the next boot will use and whether that is a one-time choice.
func (m *VM) NextBoot() (power.BootDevice, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.once != "" {
		return m.once, true
	}
	return m.persistent, false
}

// HTTPBootURI is the URI the last boot device request carried.
func (m *VM) HTTPBootURI() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.uri
}

// Boots returns the devices booted from, oldest first.
func (m *VM) Boots() []power.BootDevice {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]power.BootDevice(nil), m.boots...)
}

// SetOn sets the power state without booting (the machine was already running).
func (m *VM) SetOn(on bool) {
	m.mu.Lock()
	m.on = on
	m.mu.Unlock()
}
