package control

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bootsvc/dhcp"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// RackUpOptions say how a scenario runs on a rack's servers: the
// inventory that lists them, the interface the boot service and dnsmasq
// serve on, and who hands out addresses (dhcp.Mode).
type RackUpOptions struct {
	Inventory string
	Interface string
	DHCP      string
	// Map names the inventory machine of a scenario machine whose name
	// differs (scenario name -> inventory name); the others match by name.
	Map map[string]string
}

// InputError is an input of RackUpOptions that is refused: Input is its
// name there ("inventory", "interface", "dhcp"); the CLI names its flag.
type InputError struct {
	Input string
	Err   error
}

func (e *InputError) Error() string { return e.Input + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// RackPlan is a scenario's machines as the rack's servers replace them.
type RackPlan struct {
	Mode     dhcp.Mode
	Link     dhcp.Link
	Machines []lab.Machine // the scenario's, with the inventory's MAC, UUID and address
	Servers  []string      // the inventory's name of each of Machines
	Path     string        // the inventory file, absolute
}

// CheckRack validates a scenario on a rack before anything is powered or
// started, and changes nothing: the DHCP mode; the interface (it exists, is
// up and has an IPv4 address: labctl never adds one); the inventory (read
// as bmc/inventory reads it: a machine without a MAC is refused there),
// which must list every machine the scenario has, by name, each with the
// address the site reserves for it, inside the interface's subnet. Each
// error names the input, and the file and field at fault.
func CheckRack(sc *scenario.Scenario, o RackUpOptions) (*RackPlan, error) {
	for _, in := range []struct{ name, value string }{{"inventory", o.Inventory}, {"interface", o.Interface}, {"dhcp", o.DHCP}} {
		if in.value == "" {
			return nil, &MissingError{Field: in.name}
		}
	}
	mode, err := dhcp.ParseMode(o.DHCP)
	if err != nil {
		return nil, &InputError{"dhcp", err}
	}
	link, err := dhcp.Inspect(o.Interface)
	if err != nil {
		return nil, &InputError{"interface", err}
	}
	inv, err := inventory.Load(o.Inventory)
	if err != nil {
		return nil, &InputError{"inventory", err}
	}
	byName := map[string]int{}
	for i, m := range inv.Machines {
		byName[m.Name] = i
	}
	l := sc.Lab("", "")
	for from := range o.Map {
		if _, _, err := l.Machine(from); err != nil {
			return nil, &InputError{"map", err}
		}
	}
	var missing []string
	var errs []error
	plan := &RackPlan{Mode: mode, Link: link}
	for _, m := range l.Machines {
		server := m.Name
		if to := o.Map[m.Name]; to != "" {
			server = to
		}
		i, ok := byName[server]
		if !ok {
			missing = append(missing, server)
			continue
		}
		im := inv.Machines[i]
		field := fmt.Sprintf("%s: machines[%d] (%s)", inv.Path, i, im.Name)
		switch {
		case !im.Address.IsValid():
			// The scenario's members know each other's addresses before
			// boot, and in proxy mode only the site knows them.
			errs = append(errs, fmt.Errorf("%s.address: required: the address the site reserves for %s (scenario %s needs it before boot)", field, im.MAC, sc.Name))
			continue
		case !link.Addr.Masked().Contains(im.Address):
			errs = append(errs, fmt.Errorf("%s.address: %s is outside %s, the subnet of interface %s", field, im.Address, link.Addr.Masked(), link.Name))
			continue
		case im.Address == link.Addr.Addr():
			errs = append(errs, fmt.Errorf("%s.address: %s is the address of interface %s", field, im.Address, link.Name))
			continue
		}
		m.MAC, m.IP = im.MAC, im.Address
		if im.UUID != "" {
			m.UUID = im.UUID
		}
		plan.Machines = append(plan.Machines, m)
		plan.Servers = append(plan.Servers, server)
	}
	if len(missing) > 0 {
		errs = append([]error{fmt.Errorf("%s: machines: scenario %s needs %d machines and lists no %s (inventory machines are matched by name, or as --map says)",
			inv.Path, sc.Name, len(l.Machines), strings.Join(missing, ", "))}, errs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &InputError{"inventory", err}
	}
	if plan.Path, err = filepath.Abs(inv.Path); err != nil {
		return nil, &InputError{"inventory", err}
	}
	return plan, nil
}

// Lab is l (the scenario's lab model) on the rack: its network is the
// interface's, its machines the servers.
func (p *RackPlan) Lab(l *lab.Lab) *lab.Lab {
	r := *l
	r.Netns = ""
	r.Network = lab.Network{Name: p.Link.Name, Subnet: p.Link.Addr.Masked(), Gateway: p.Link.Addr.Addr(), Domain: l.Network.Domain}
	r.Machines = p.Machines
	r.Rack = &lab.Rack{Inventory: p.Path, DHCP: string(p.Mode), Servers: map[string]string{}}
	for i, m := range p.Machines {
		r.Rack.Servers[m.Name] = p.Servers[i]
	}
	return &r
}
