package libvirt

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	golibvirt "libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/tail"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

// PowerState implements lab.PowerDriver.
func (p *Provider) PowerState(ctx context.Context, l *lab.Lab, machine string) (power.State, error) {
	var s power.State
	err := p.withDomain(l, machine, func(_ *golibvirt.Connect, d *golibvirt.Domain) (err error) {
		s, err = powerState(d)
		return err
	})
	return s, err
}

// MachineFault implements lab.FaultReporter: libvirt marks a domain whose
// QEMU died without a shutdown as shut off, reason crashed, and one that
// failed to start (after a reset) as reason failed. What QEMU and
// libvirt logged about its end comes with it: without it a crash in CI
// cannot be told from another.
func (p *Provider) MachineFault(ctx context.Context, l *lab.Lab, machine string) (string, error) {
	var fault string
	err := p.withDomain(l, machine, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
		s, reason, err := d.GetState()
		if err != nil {
			return fmt.Errorf("read domain state: %w", err)
		}
		log := filepath.Join(p.Daemon(l).QEMULogDir(), machine+".log")
		switch {
		case s == golibvirt.DOMAIN_CRASHED || s == golibvirt.DOMAIN_SHUTOFF && golibvirt.DomainShutoffReason(reason) == golibvirt.DOMAIN_SHUTOFF_CRASHED:
			fault = "libvirt domain crashed: its QEMU died unasked; " + log + " ends:\n" + lastRun(log, 6)
		case s == golibvirt.DOMAIN_SHUTOFF && golibvirt.DomainShutoffReason(reason) == golibvirt.DOMAIN_SHUTOFF_FAILED:
			// A start nobody waited on failed: the cold start after a reset.
			fault = "libvirt could not start the domain again (shut off, reason failed); " + log + " ends:\n" + lastRun(log, 6)
		}
		return nil
	})
	return fault, err
}

// stamped matches the lines libvirt and QEMU (-msg timestamp=on) write to a
// domain's log with a time, unlike the command line between them.
var stamped = regexp.MustCompile(`^\d{4}-\d\d-\d\d[ T]\d\d:\d\d`)

// lastRun returns the last n time-stamped lines of a domain's QEMU log
// written since its last start (how it ended: QEMU's own errors, libvirt's
// "shutting down, reason=..."), indented as tail.File's, or why not.
func lastRun(path string, n int) string {
	s, err := tail.Clean(path, 400)
	if err != nil {
		return fmt.Sprintf("  (%v)", err)
	}
	var lines []string
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.Contains(line, ": starting up libvirt"):
			lines = lines[:0]
		case stamped.MatchString(line):
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return "  (nothing logged since its start)"
	}
	return "  | " + strings.Join(lines[max(0, len(lines)-n):], "\n  | ")
}

func powerState(d *golibvirt.Domain) (power.State, error) {
	s, _, err := d.GetState()
	if err != nil {
		return "", fmt.Errorf("read power state: %w", err)
	}
	switch s {
	case golibvirt.DOMAIN_SHUTOFF, golibvirt.DOMAIN_CRASHED, golibvirt.DOMAIN_NOSTATE:
		return power.Off, nil
	}
	// Running, paused, blocked, shutting down, suspended: QEMU is there.
	return power.On, nil
}

// SetPower implements lab.PowerDriver. Off is a hard off; cycle and reset
// are both cold starts (destroy, then create), the only kind of start in
// which libvirt applies a new boot order. The power state is read back and
// checked afterwards; soft-off only asks the guest, so any state is accepted.
func (p *Provider) SetPower(ctx context.Context, l *lab.Lab, machine string, a power.Action) error {
	unlock := p.lockMachine(l, machine)
	defer unlock()
	return p.withDomain(l, machine, func(c *golibvirt.Connect, d *golibvirt.Domain) error {
		return p.setPower(ctx, l, c, d, machine, a)
	})
}

// setPower does SetPower's work on domain d with the machine's lock held.
func (p *Provider) setPower(ctx context.Context, l *lab.Lab, c *golibvirt.Connect, d *golibvirt.Domain, machine string, a power.Action) error {
	var want power.State
	switch a {
	case power.ActionOn, power.ActionCycle, power.ActionReset:
		want = power.On
	case power.ActionOff:
		want = power.Off
	case power.ActionSoftOff:
	default:
		return fmt.Errorf("machine %s: unknown power action %q", machine, a)
	}
	before, err := powerState(d)
	if err != nil {
		return fmt.Errorf("machine %s: %w", machine, err)
	}
	start := false
	switch {
	case a == power.ActionOn:
		start = before == power.Off
	case a == power.ActionSoftOff && before == power.On:
		if err := d.Shutdown(); err != nil {
			return fmt.Errorf("machine %s: soft-off: %w", machine, err)
		}
	case a == power.ActionOff || a == power.ActionCycle || a == power.ActionReset:
		if before == power.On {
			if err := d.Destroy(); err != nil && !isCode(err, golibvirt.ERR_OPERATION_INVALID) {
				return fmt.Errorf("machine %s: %s: power off: %w", machine, a, err)
			}
		}
		start = a != power.ActionOff
	}
	if start {
		if err := p.start(c, d, l, machine, a); err != nil {
			return err
		}
		if err := p.consumeOnce(c, d); err != nil {
			return fmt.Errorf("machine %s: %w", machine, err)
		}
	}
	after, err := powerState(d)
	if want != "" && after != want {
		after, err = waitState(ctx, d, want, 5*time.Second)
	}
	if err != nil {
		return fmt.Errorf("machine %s: %s: %w", machine, a, err)
	}
	p.log.Info("power", "lab", l.Name, "machine", machine, "action", a, "before", before, "after", after)
	if want != "" && after != want {
		return fmt.Errorf("machine %s: %s: power is %s afterwards, want %s", machine, a, after, want)
	}
	return nil
}

// SetBootDevice implements lab.PowerDriver. Persistent: the domain is
// redefined with dev first. Once: the definition for the next start puts dev
// first and remembers the persistent order, which consumeOnce restores as
// soon as that start has happened. Either takes effect at the next cold start.
func (p *Provider) SetBootDevice(ctx context.Context, l *lab.Lab, machine string, dev power.BootDevice, o power.BootOptions) error {
	once := !o.Persistent
	if _, err := vm.BootRequest(l, machine, dev, o); err != nil {
		return err
	}
	return p.withDomain(l, machine, func(c *golibvirt.Connect, d *golibvirt.Domain) error {
		x, err := persistentXML(d)
		if err != nil {
			return fmt.Errorf("machine %s: %w", machine, err)
		}
		meta := getBoot(x)
		if once {
			meta.Once = string(dev)
		} else {
			order, err := parseBoot(meta.Order)
			if err != nil {
				return fmt.Errorf("machine %s: %w", machine, err)
			}
			meta = bootMeta{Order: joinBoot(first(dev, order))}
		}
		if err := redefine(c, x, meta); err != nil {
			return fmt.Errorf("machine %s: set boot device %s: %w", machine, dev, err)
		}
		p.log.Info("boot device set", "lab", l.Name, "machine", machine, "device", dev, "once", once, "persistent_order", meta.Order)
		return nil
	})
}

// consumeOnce restores the persistent boot order after a start that used a
// boot-once device. The running domain keeps the order it started with.
func (p *Provider) consumeOnce(c *golibvirt.Connect, d *golibvirt.Domain) error {
	x, err := persistentXML(d)
	if err != nil {
		return err
	}
	meta := getBoot(x)
	if meta.Once == "" {
		return nil
	}
	if err := redefine(c, x, bootMeta{Order: meta.Order}); err != nil {
		return fmt.Errorf("restore boot order after boot-once %s: %w", meta.Once, err)
	}
	p.log.Info("boot-once consumed", "machine", x.Name, "once", meta.Once, "order", meta.Order)
	return nil
}

// start renews d and starts it. A QEMU that exits before its monitor
// connects is started once more, on a domain renewed again: on a loaded
// machine libvirt 9.0 was seen to kill the QEMU it had just started that
// way (about one start in three with both cores busy, with nothing in
// QEMU's log), the queued end of the QEMU before (see renew) handled late.
func (p *Provider) start(c *golibvirt.Connect, d *golibvirt.Domain, l *lab.Lab, machine string, a power.Action) error {
	for attempt := 1; ; attempt++ {
		if err := renew(c, d); err != nil {
			return fmt.Errorf("machine %s: %s: %w", machine, a, err)
		}
		err := d.Create()
		if err == nil {
			p.markStarted(l, machine)
			return nil
		}
		if attempt == 2 || !strings.Contains(err.Error(), "exited while connecting to monitor") {
			return fmt.Errorf("machine %s: %s: start: %w\n%s", machine, a, err, tail.Serial(l.MachineFiles(machine).SerialLog, 20))
		}
		p.log.Warn("QEMU exited as it started; starting it again", "lab", l.Name, "machine", machine, "err", err)
		time.Sleep(time.Second)
	}
}

// renew gives a stopped domain a new object in libvirtd: undefined and
// defined again from its definition, its NVRAM and TPM state kept. libvirt
// 9.0 may still hold events of the QEMU that ended (its monitor's EOF,
// queued more than once, handled by one worker behind other domains'
// events). Handled for the object of a domain started since, such an event
// kills the new QEMU as "crashed" (seen after resets); for the old object
// it finds a stopped domain and does nothing.
func renew(c *golibvirt.Connect, d *golibvirt.Domain) error {
	x, err := persistentXML(d)
	if err != nil {
		return fmt.Errorf("read definition: %w", err)
	}
	s, err := x.Marshal()
	if err != nil {
		return err
	}
	if err := d.UndefineFlags(golibvirt.DOMAIN_UNDEFINE_KEEP_NVRAM | golibvirt.DOMAIN_UNDEFINE_KEEP_TPM); err != nil {
		return fmt.Errorf("undefine before a start: %w", err)
	}
	nd, err := c.DomainDefineXML(s)
	if err != nil {
		return fmt.Errorf("define again before a start: %w", err)
	}
	return nd.Free()
}

func redefine(c *golibvirt.Connect, x *libvirtxml.Domain, meta bootMeta) error {
	if err := setBoot(x, meta); err != nil {
		return err
	}
	s, err := x.Marshal()
	if err != nil {
		return err
	}
	d, err := c.DomainDefineXML(s)
	if err != nil {
		return err
	}
	return d.Free()
}
