package labd

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/bootsvc/dhcp"
	"github.com/labctl/labctl/bootsvc/dnsmasq"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/kea"
	"github.com/labctl/labctl/lab/state"
)

// runKea supervises a simulated rack's site DHCP server on the lab's bridge
// until ctx ends: a reservation per machine, the gateway as its router.
func runKea(ctx context.Context, wg *sync.WaitGroup, l *lab.Lab, log *slog.Logger, fail func(error)) {
	conf := kea.Config{
		Interface: l.Network.Name,
		Subnet:    l.Network.Subnet,
		Router:    l.Network.Gateway,
		Domain:    l.Network.Domain,
		LeaseFile: l.KeaLeases(),
		LogFile:   l.KeaLog(),
	}
	for _, m := range l.Machines {
		conf.Reservations = append(conf.Reservations, kea.Reservation{Hostname: m.Name, MAC: m.MAC, IP: m.IP})
	}
	role := l.Network.DHCPRole()
	p := &kea.Process{
		Config:     conf,
		ConfigFile: l.KeaConfig(),
		RunDir:     l.KeaRunDir(),
		Log:        log,
		OnStart:    func(pid int) { state.SetPid(l.Dir, role, pid) },
		OnExit: func(err error) {
			state.SetExit(l.Dir, role, fmt.Sprintf("exited unasked: %v at %s; restarted", err, time.Now().UTC().Format(time.TimeOnly)))
		},
	}
	wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			fail(err)
		}
	})
}

// joinOperator gives the operator an interface on the segment: a veth pair
// whose one end (lab.OperatorPort) joins the bridge and whose other
// (lab.OperatorInterface) sits in the operator's namespace, which `labctl
// up` made, with the operator's address. Both ends go with the lab's
// namespace.
func joinOperator(ctx context.Context, l *lab.Lab) error {
	op := l.Network.Operator
	if !op.IsValid() {
		return nil
	}
	ns, addr := l.OperatorNetns(), netip.PrefixFrom(op, l.Network.Subnet.Bits())
	for _, argv := range [][]string{
		{"link", "add", lab.OperatorPort, "type", "veth", "peer", "name", lab.OperatorInterface, "netns", ns},
		{"link", "set", lab.OperatorPort, "master", l.Network.Name, "up"},
		{"-n", ns, "addr", "add", addr.String(), "dev", lab.OperatorInterface},
		{"-n", ns, "link", "set", lab.OperatorInterface, "up"},
	} {
		if out, err := exec.CommandContext(ctx, "ip", argv...).CombinedOutput(); err != nil {
			return fmt.Errorf("operator interface: ip %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// runRackDHCP supervises dnsmasq on a rack lab's interface as `labctl
// serve --dhcp` does (bootsvc/dhcp): proxyDHCP beside the site's server, or
// full DHCP with a reservation per machine (the inventory's address), or
// nothing (--dhcp none). It never touches the interface's addresses.
func runRackDHCP(ctx context.Context, wg *sync.WaitGroup, l *lab.Lab, log *slog.Logger, fail func(error)) error {
	o := dhcp.Options{Mode: dhcp.Mode(l.Rack.DHCP), Interface: l.Network.Name, Domain: l.Network.Domain,
		BootPort: lab.BootPort, Dir: l.Dir, OnStart: func(pid int) { state.SetPid(l.Dir, "dnsmasq", pid) }}
	if o.Mode == dhcp.None {
		return nil
	}
	if o.Mode == dhcp.Full {
		for _, m := range l.Machines {
			o.Reservations = append(o.Reservations, dhcp.Reservation{
				Field: fmt.Sprintf("%s: machine %s", l.Rack.Inventory, l.Rack.Server(m.Name)), Name: m.Name, MAC: m.MAC, Address: m.IP})
		}
	}
	link := dhcp.Link{Name: l.Network.Name, Addr: netip.PrefixFrom(l.Network.Gateway, l.Network.Subnet.Bits())}
	conf, err := dhcp.Config(o, link)
	if err != nil {
		return fmt.Errorf("dnsmasq on %s: %w", link.Name, err)
	}
	// The lab's layout names dnsmasq's files as a VM lab's.
	conf.TFTPRoot, conf.LogFile, conf.LeaseFile = l.TFTPDir(), l.DnsmasqLog(), l.DnsmasqLeases()
	wg.Go(func() {
		if err := dhcp.Run(ctx, o, conf, func() (dnsmasq.Config, error) { return conf, nil }, log); err != nil {
			fail(err)
		}
	})
	return nil
}
