// Package libvirt is the lab provider that runs a lab's network and machines
// through a private libvirtd of the lab's own, inside the lab's namespace.
package libvirt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	golibvirt "libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/tail"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/libvirt/libvirtd"
	"github.com/labctl/labctl/lab/vm"
)

// Provider implements lab.Provider and lab.PowerDriver with one private
// libvirtd per lab.
type Provider struct {
	log *slog.Logger
	// Accel is the accelerator machines get; empty means TCG (the lab
	// process probes KVM and sets it).
	Accel vm.Accel
	// OnProcess, if set, is told the pid of the lab's libvirtd as role
	// "libvirtd" when it starts, so the lab's state file can record it.
	OnProcess func(role string, pid int)

	mu           sync.Mutex
	watches      map[string]*resetWatch // by lab directory
	machineLocks map[string]*sync.Mutex // by lab directory and machine name
	started      map[string]time.Time   // when each machine's QEMU last started, by the same key
}

var (
	_ lab.Provider        = (*Provider)(nil)
	_ lab.PowerDriver     = (*Provider)(nil)
	_ lab.MachinesCreator = (*Provider)(nil)
)

// New returns a libvirt provider logging to log.
func New(log *slog.Logger) *Provider {
	// Before any connection: libvirt's event loop must precede them (an
	// error here is returned where events are first needed, watchResets).
	eventLoop()
	return &Provider{log: log.With("provider", "libvirt"),
		watches: map[string]*resetWatch{}, machineLocks: map[string]*sync.Mutex{}, started: map[string]time.Time{}}
}

// Name implements lab.Provider.
func (p *Provider) Name() string { return "libvirt" }

// Daemon returns the lab's private libvirtd (started or not).
func (p *Provider) Daemon(l *lab.Lab) *libvirtd.Daemon {
	return libvirtd.New(filepath.Join(l.Dir, "libvirt"), l.Netns, p.log.With("lab", l.Name))
}

// domainType is the accelerator as libvirt names it: "kvm", or "qemu" for TCG.
func (p *Provider) domainType() string {
	if p.Accel == vm.KVM {
		return "kvm"
	}
	return "qemu"
}

// CreateNetwork starts the lab's libvirtd if it is not running, watches its
// machines' resets and brings up the lab bridge. A bridge that is already up
// is left as it is.
func (p *Provider) CreateNetwork(ctx context.Context, l *lab.Lab) error {
	x, err := networkXML(l.Network)
	if err != nil {
		return fmt.Errorf("lab %s: %w", l.Name, err)
	}
	d := p.Daemon(l)
	if err := d.Start(ctx); err != nil {
		return fmt.Errorf("lab %s: %w", l.Name, err)
	}
	if p.OnProcess != nil {
		p.OnProcess("libvirtd", d.Pid())
	}
	if err := p.watchResets(l); err != nil {
		return err
	}
	return p.with(l, func(c *golibvirt.Connect) error {
		// libvirt probes QEMU at its first use; do it now, once, rather than
		// inside the first machine's define.
		start := time.Now()
		if _, err := c.GetDomainCapabilities("", "x86_64", "", "qemu", 0); err != nil {
			return fmt.Errorf("lab %s: QEMU capabilities: %w", l.Name, err)
		}
		d.SaveCapabilities()
		p.log.Debug("QEMU capabilities ready", "lab", l.Name, "took", time.Since(start).Round(time.Millisecond))
		if n, err := c.LookupNetworkByName(l.Network.Name); err == nil {
			defer n.Free()
			if active, _ := n.IsActive(); active {
				return nil
			}
			if err := n.Create(); err != nil {
				return fmt.Errorf("start network %s: %w", l.Network.Name, err)
			}
			return nil
		}
		n, err := c.NetworkDefineXML(x)
		if err != nil {
			return fmt.Errorf("define network %s: %w", l.Network.Name, err)
		}
		defer n.Free()
		if err := n.Create(); err != nil {
			return fmt.Errorf("start network %s: %w", l.Network.Name, err)
		}
		p.log.Info("network up", "lab", l.Name, "bridge", l.Network.Name, "gateway", l.Network.Gateway)
		return nil
	})
}

// CreateMachine defines m with a fresh disk (and, for UEFI, fresh NVRAM) and
// starts it. A machine that exists already is destroyed first: this is how a
// machine is reimaged. If it fails, what it made is removed again.
func (p *Provider) CreateMachine(ctx context.Context, l *lab.Lab, m lab.Machine) error {
	return p.CreateMachines(ctx, l, []lab.Machine{m})
}

// CreateMachines creates each of ms as CreateMachine does, all at once:
// libvirt spends about half a second per machine starting QEMU and talking
// QMP to it, mostly waiting, so side by side those waits overlap. If any
// fails, every machine this call made (files and domain) is removed again,
// and the error names each machine that failed.
func (p *Provider) CreateMachines(ctx context.Context, l *lab.Lab, ms []lab.Machine) error {
	made := make([]bool, len(ms))
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() { made[i], errs[i] = p.createMachine(ctx, l, m) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err == nil {
		return nil
	}
	var undo []error
	for i, m := range ms {
		if made[i] {
			undo = append(undo, p.removeMachine(l, m.Name))
		}
	}
	if uerr := errors.Join(undo...); uerr != nil {
		return errors.Join(err, fmt.Errorf("lab %s: removing the machines made: %w", l.Name, uerr))
	}
	return err
}

// createMachine creates one machine; made says whether it changed anything
// (files or domain) that a rollback must remove.
func (p *Provider) createMachine(ctx context.Context, l *lab.Lab, m lab.Machine) (made bool, err error) {
	f := l.MachineFiles(m.Name)
	if len(f.Console) > 107 {
		return false, fmt.Errorf("machine %s: console socket path %s is longer than a unix socket allows: use a shorter lab directory", m.Name, f.Console)
	}
	dom, err := domainXML(l, m, p.domainType())
	if err != nil {
		return false, fmt.Errorf("lab %s: %w", l.Name, err)
	}
	x, err := dom.Marshal()
	if err != nil {
		return false, fmt.Errorf("machine %s: domain XML: %w", m.Name, err)
	}
	err = p.with(l, func(c *golibvirt.Connect) error {
		if err := removeDomain(c, m.Name); err != nil {
			return err
		}
		// A fresh disk and NVRAM: a reimaged machine starts from blank
		// firmware settings.
		made = true
		// A reimaged machine drops the overlays a snapshot put on its disk.
		if err := vm.DropOverlays(f.Dir); err != nil {
			return fmt.Errorf("machine %s: %w", m.Name, err)
		}
		if err := vm.Prepare(ctx, l, m, ovmf(m), true); err != nil {
			return err
		}
		d, err := c.DomainDefineXML(x)
		if err != nil {
			return fmt.Errorf("define domain %s: %w", m.Name, err)
		}
		defer d.Free()
		if err := d.Create(); err != nil {
			return fmt.Errorf("start domain %s: %w\n%s", m.Name, err, tail.Serial(f.SerialLog, 20))
		}
		p.markStarted(l, m.Name)
		p.log.Info("machine started", "lab", l.Name, "machine", m.Name, "firmware", m.Firmware, "domain_type", dom.Type,
			"boot", joinBoot(m.Boot), "serial_log", f.SerialLog)
		return nil
	})
	return made, err
}

// removeMachine removes a machine's domain (with its NVRAM), its disk and
// its console socket; its serial log and record stay, as after Destroy.
func (p *Provider) removeMachine(l *lab.Lab, name string) error {
	err := p.with(l, func(c *golibvirt.Connect) error { return removeDomain(c, name) })
	f := l.MachineFiles(name)
	errs := []error{err}
	for _, file := range []string{f.Disk, f.NVRAM, f.Console} {
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Destroy removes every domain (with its NVRAM) and network of the lab,
// stops its libvirtd and QEMU processes and removes the daemon's runtime
// directories and the machines' disks; serial and daemon logs stay. It needs
// only l.Dir and l.Netns: after a crash it restarts the daemon so that
// libvirt itself tears down what it knows about, then sweeps what is left.
func (p *Provider) Destroy(ctx context.Context, l *lab.Lab) error {
	p.stopWatching(l)
	d := p.Daemon(l)
	if _, err := os.Stat(filepath.Join(d.Dir, "etc")); err == nil && d.Pid() == 0 {
		if err := d.Start(ctx); err != nil {
			p.log.Warn("could not restart libvirtd to clean up; sweeping by hand", "lab", l.Name, "err", err)
		}
	}
	var errs []error
	if d.Pid() != 0 {
		errs = append(errs, p.with(l, removeAll))
	}
	errs = append(errs, d.Stop(ctx))
	// The bridge goes with its libvirt network; after a sweep by hand it may not.
	if bridgeExists(ctx, l) {
		if out, err := ipCommand(ctx, l, "link", "del", l.Network.Name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w: %s", l.Network.Name, err, strings.TrimSpace(string(out))))
		}
	}
	for _, name := range l.MachineNames() {
		f := l.MachineFiles(name)
		for _, file := range []string{f.Disk, f.NVRAM, f.Console} {
			if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy lab %s: %w", l.Name, err)
	}
	p.log.Info("lab destroyed", "lab", l.Name)
	return nil
}

// removeAll destroys and undefines every domain and network the daemon has.
func removeAll(c *golibvirt.Connect) error {
	var errs []error
	doms, err := c.ListAllDomains(0)
	if err != nil {
		return fmt.Errorf("list domains: %w", err)
	}
	for i := range doms {
		name, _ := doms[i].GetName()
		doms[i].Free()
		errs = append(errs, removeDomain(c, name))
	}
	nets, err := c.ListAllNetworks(0)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
	}
	for i := range nets {
		n := &nets[i]
		name, _ := n.GetName()
		if active, _ := n.IsActive(); active {
			if err := n.Destroy(); err != nil {
				errs = append(errs, fmt.Errorf("stop network %s: %w", name, err))
			}
		}
		if persistent, _ := n.IsPersistent(); persistent {
			if err := n.Undefine(); err != nil {
				errs = append(errs, fmt.Errorf("undefine network %s: %w", name, err))
			}
		}
		n.Free()
	}
	return errors.Join(errs...)
}

// removeDomain powers off and undefines the named domain with its NVRAM; a
// domain that does not exist is not an error.
func removeDomain(c *golibvirt.Connect, name string) error {
	d, err := c.LookupDomainByName(name)
	if isCode(err, golibvirt.ERR_NO_DOMAIN) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up domain %s: %w", name, err)
	}
	defer d.Free()
	if err := d.Destroy(); err != nil && !isCode(err, golibvirt.ERR_OPERATION_INVALID) {
		return fmt.Errorf("destroy domain %s: %w", name, err)
	}
	if err := d.UndefineFlags(golibvirt.DOMAIN_UNDEFINE_NVRAM | golibvirt.DOMAIN_UNDEFINE_MANAGED_SAVE); err != nil && !isCode(err, golibvirt.ERR_NO_DOMAIN) {
		return fmt.Errorf("undefine domain %s: %w", name, err)
	}
	return nil
}

// with connects to the lab's libvirtd, runs fn and closes the connection.
func (p *Provider) with(l *lab.Lab, fn func(*golibvirt.Connect) error) error {
	d := p.Daemon(l)
	c, err := golibvirt.NewConnect(d.URI())
	if err != nil {
		return fmt.Errorf("lab %s: connect to its libvirtd (%s): %w", l.Name, d.URI(), err)
	}
	defer c.Close()
	return fn(c)
}

// withDomain looks up the lab's machine by name and runs fn on its domain.
func (p *Provider) withDomain(l *lab.Lab, name string, fn func(*golibvirt.Connect, *golibvirt.Domain) error) error {
	return p.with(l, func(c *golibvirt.Connect) error {
		d, err := c.LookupDomainByName(name)
		if err != nil {
			return fmt.Errorf("lab %s: machine %s: %w", l.Name, name, err)
		}
		defer d.Free()
		return fn(c, d)
	})
}

// persistentXML returns the domain's definition for its next start.
func persistentXML(d *golibvirt.Domain) (*libvirtxml.Domain, error) {
	s, err := d.GetXMLDesc(golibvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		return nil, err
	}
	var x libvirtxml.Domain
	if err := x.Unmarshal(s); err != nil {
		return nil, err
	}
	return &x, nil
}

func bridgeExists(ctx context.Context, l *lab.Lab) bool {
	return l.Network.Name != "" && ipCommand(ctx, l, "link", "show", l.Network.Name).Run() == nil
}

// ipCommand runs ip(8) in the lab's namespace (the caller's if it has none).
func ipCommand(ctx context.Context, l *lab.Lab, args ...string) *exec.Cmd {
	if l.Netns != "" {
		args = append([]string{"-n", l.Netns}, args...)
	}
	return exec.CommandContext(ctx, "ip", args...)
}

func isCode(err error, code golibvirt.ErrorNumber) bool {
	var lerr golibvirt.Error
	return errors.As(err, &lerr) && lerr.Code == code
}

// waitState polls the domain's power state until it is want or ctx or the
// timeout ends, and returns the last state read.
func waitState(ctx context.Context, d *golibvirt.Domain, want power.State, timeout time.Duration) (power.State, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := powerState(d)
		if err != nil || s == want || time.Now().After(deadline) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
