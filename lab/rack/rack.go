// Package rack is the lab provider of a rack's servers: it creates nothing.
// Its machines exist already and are driven through their BMCs (Redfish or
// IPMI, as the lab's inventory lists them): "creating" one sets it to boot
// from the network and power-cycles it. The network is the operator's
// interface, which is not the provider's to make or remove.
package rack

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
)

// Name is the provider's name in a lab's state.
const Name = "rack"

// Provider drives the servers of a lab whose Rack is set.
type Provider struct {
	Log *slog.Logger

	mu      sync.Mutex
	clients map[string]*bmc.Client // by lab machine name
}

// New returns a provider that logs to log.
func New(log *slog.Logger) *Provider { return &Provider{Log: log} }

func (p *Provider) Name() string { return Name }

// CreateNetwork makes nothing: the interface is the operator's.
func (p *Provider) CreateNetwork(ctx context.Context, l *lab.Lab) error {
	if l.Rack == nil {
		return fmt.Errorf("lab %s lists no rack: the rack provider drives only a rack's servers", l.Name)
	}
	return nil
}

// CreateMachine sets m to boot from the network and powers it on (cycles
// it if it is on). A machine that boots from its disk afterwards (an
// install-to-disk scenario: disk in its boot order) boots from the network
// once only, as a real server must, to come back from the disk it
// installed; one that lives in RAM boots from the network every time.
func (p *Provider) CreateMachine(ctx context.Context, l *lab.Lab, m lab.Machine) error {
	c, err := p.client(l, m.Name)
	if err != nil {
		return err
	}
	persistent := !slices.Contains(m.Boot, power.BootDisk)
	applied, err := c.SetBoot(ctx, power.BootNetwork, power.BootOptions{Persistent: persistent})
	if err != nil {
		return fmt.Errorf("machine %s (server %s): boot from the network: %w", m.Name, l.Rack.Server(m.Name), err)
	}
	if applied.Persistent && !persistent {
		p.Log.Warn("the BMC has no one-time boot: the server boots from the network until it is changed", "machine", m.Name)
	}
	st, err := c.PowerState(ctx)
	if err != nil {
		return fmt.Errorf("machine %s (server %s): power status: %w", m.Name, l.Rack.Server(m.Name), err)
	}
	action := power.BootAction(st)
	if err := c.SetPower(ctx, action); err != nil {
		return fmt.Errorf("machine %s (server %s): power %s: %w", m.Name, l.Rack.Server(m.Name), action, err)
	}
	p.Log.Info("server network-booting", "machine", m.Name, "server", l.Rack.Server(m.Name), "power", action)
	return nil
}

// Destroy removes nothing: the servers and the interface are the site's.
// `labctl down` powers them off (through SetPower) unless asked not to.
func (p *Provider) Destroy(ctx context.Context, l *lab.Lab) error { return nil }

func (p *Provider) PowerState(ctx context.Context, l *lab.Lab, machine string) (power.State, error) {
	c, err := p.client(l, machine)
	if err != nil {
		return "", err
	}
	return c.PowerState(ctx)
}

func (p *Provider) SetPower(ctx context.Context, l *lab.Lab, machine string, a power.Action) error {
	c, err := p.client(l, machine)
	if err != nil {
		return err
	}
	if a == power.ActionOff {
		if st, err := c.PowerState(ctx); err == nil && st == power.Off {
			return nil // off already: some BMCs refuse to power off what is off
		}
	}
	if err := c.SetPower(ctx, a); err != nil {
		return fmt.Errorf("machine %s (server %s): power %s: %w", machine, l.Rack.Server(machine), a, err)
	}
	return nil
}

func (p *Provider) SetBootDevice(ctx context.Context, l *lab.Lab, machine string, d power.BootDevice, o power.BootOptions) error {
	c, err := p.client(l, machine)
	if err != nil {
		return err
	}
	return c.SetBootDevice(ctx, d, o)
}

// client is the BMC client of the lab's machine, from the lab's inventory
// (read once per provider).
func (p *Provider) client(l *lab.Lab, machine string) (*bmc.Client, error) {
	if l.Rack == nil {
		return nil, fmt.Errorf("lab %s lists no rack", l.Name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.clients[machine]; c != nil {
		return c, nil
	}
	if _, _, err := l.Machine(machine); err != nil {
		return nil, err
	}
	inv, err := inventory.Load(l.Rack.Inventory)
	if err != nil {
		return nil, err
	}
	p.clients = map[string]*bmc.Client{}
	for _, m := range l.Machines {
		ms, err := inv.Select([]string{l.Rack.Server(m.Name)})
		if err != nil {
			return nil, fmt.Errorf("machine %s: %w", m.Name, err)
		}
		p.clients[m.Name] = &bmc.Client{Server: ms[0].BMCServer(), Dialers: protocols.Dialers(), Log: p.Log}
	}
	return p.clients[machine], nil
}
