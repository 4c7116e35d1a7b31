// Package providers is the one place that knows every lab provider: it
// makes one by name and picks the default. A new provider joins by adding
// one entry to registry.
package providers

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/libvirt"
	"github.com/labctl/labctl/lab/qemu"
	"github.com/labctl/labctl/lab/rack"
	"github.com/labctl/labctl/lab/vm"
)

// Config is what every provider is made with.
type Config struct {
	Log *slog.Logger
	// Accel is what machines run under; empty means TCG. The lab process
	// probes KVM (vm.ProbeAccel) before it makes its provider.
	Accel vm.Accel
	// OnProcess, if set, is told each process a provider starts (and 0 when
	// it is gone), by role, so that the lab's state file can record it.
	OnProcess func(role string, pid int)
}

// entry is one provider: how to make it, and whether it is the one to use
// on this host when the user names none.
type entry struct {
	name      string
	make      func(Config) lab.Provider
	preferred func() bool
}

// registry lists the providers, the default candidates first.
var registry = []entry{
	{"libvirt", newLibvirt, systemLibvirtd},
	{"qemu", newQEMU, func() bool { return true }},
	// A rack's servers, through their BMCs: only with an inventory, never a default.
	{rack.Name, func(c Config) lab.Provider { return rack.New(c.Log) }, func() bool { return false }},
}

func newQEMU(c Config) lab.Provider {
	p := qemu.New(c.Log)
	p.Accel, p.OnProcess = c.Accel, c.OnProcess
	return p
}

func newLibvirt(c Config) lab.Provider {
	p := libvirt.New(c.Log)
	p.Accel, p.OnProcess = c.Accel, c.OnProcess
	return p
}

// New returns the provider called name.
func New(name string, c Config) (lab.Provider, error) {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	for _, e := range registry {
		if e.name == name {
			return e.make(c), nil
		}
	}
	return nil, fmt.Errorf("unknown provider %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the providers.
func Names() []string {
	names := make([]string, len(registry))
	for i, e := range registry {
		names[i] = e.name
	}
	return names
}

// Default is the provider to use when the user names none: the first whose
// host has what it prefers.
func Default() string {
	for _, e := range registry {
		if e.preferred() {
			return e.name
		}
	}
	return registry[len(registry)-1].name
}

// systemLibvirtd says whether a system libvirtd answers on its socket (the
// lab still gets a private daemon of its own).
func systemLibvirtd() bool {
	c, err := net.DialTimeout("unix", "/run/libvirt/libvirt-sock", time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
