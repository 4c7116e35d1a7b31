package libvirt

import (
	"context"
	"fmt"
	"sync"
	"time"

	golibvirt "libvirt.org/go/libvirt"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
)

// A reset is a cold start here as in the QEMU provider (docs/architecture.md,
// "A reset is a cold start"): libvirt resets a domain in place, and OVMF was
// seen to hang for good after such a warm reset under TCG. The lab process
// watches its libvirtd's reboot events (a guest's reboot, or a QMP
// system_reset) and starts the machine again, in its persistent boot order
// or with a pending one-time device.

// libvirt delivers events through an event loop in the client process,
// which must be registered before the first connection that wants events is
// opened; it is the C library's, so one per process, run on one goroutine
// for the life of the process.
var eventLoop = sync.OnceValue(func() error {
	if err := golibvirt.EventRegisterDefaultImpl(); err != nil {
		return fmt.Errorf("register libvirt's event loop: %w", err)
	}
	go func() {
		for {
			if err := golibvirt.EventRunDefaultImpl(); err != nil {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return nil
})

// resetWatch is a lab's connection for reboot events and the restarts it
// has under way. stopped (under Provider.mu) turns away events that arrive
// while the watch ends.
type resetWatch struct {
	conn     *golibvirt.Connect
	callback int
	running  sync.WaitGroup
	stopped  bool
}

// watchResets starts watching lab l's reboot events; a lab already watched
// is left as it is.
func (p *Provider) watchResets(l *lab.Lab) error {
	p.mu.Lock()
	watched := p.watches[l.Dir] != nil
	p.mu.Unlock()
	if watched {
		return nil
	}
	if err := eventLoop(); err != nil {
		return fmt.Errorf("lab %s: %w", l.Name, err)
	}
	c, err := golibvirt.NewConnect(p.Daemon(l).URI())
	if err != nil {
		return fmt.Errorf("lab %s: connect to its libvirtd for events: %w", l.Name, err)
	}
	w := &resetWatch{conn: c}
	w.callback, err = c.DomainEventRebootRegister(nil, func(_ *golibvirt.Connect, d *golibvirt.Domain) {
		name, err := d.GetName()
		if err != nil {
			p.log.Error("reboot event for a domain without a name", "lab", l.Name, "err", err)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if w.stopped {
			return
		}
		// Not on the event loop's goroutine: the restart waits on libvirtd.
		at := time.Now()
		w.running.Go(func() { p.restart(l, name, at) })
	})
	if err != nil {
		c.Close()
		return fmt.Errorf("lab %s: watch reboot events: %w", l.Name, err)
	}
	p.mu.Lock()
	p.watches[l.Dir] = w
	p.mu.Unlock()
	return nil
}

// stopWatching ends lab l's watch and waits for the restarts under way, so
// that none starts a machine after Destroy has removed it.
func (p *Provider) stopWatching(l *lab.Lab) {
	p.mu.Lock()
	w := p.watches[l.Dir]
	delete(p.watches, l.Dir)
	if w != nil {
		w.stopped = true
	}
	p.mu.Unlock()
	if w == nil {
		return
	}
	// The daemon may be gone already (a crash): then these fail, and the
	// connection is closed all the same.
	w.conn.DomainEventDeregister(w.callback)
	w.conn.Close()
	w.running.Wait()
}

// restart starts machine name again cold after a reset whose event came
// at eventAt, unless it was powered off since, or started since: libvirt
// 9.0 may deliver a reboot event of the QEMU a start replaced (seen on a
// loaded machine, the event queued while the restart before held the
// machine's lock), and starting again for it would lose a one-time boot
// device the start before had used.
func (p *Provider) restart(l *lab.Lab, name string, eventAt time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unlock := p.lockMachine(l, name)
	defer unlock()
	if p.startedAfter(l, name, eventAt) {
		p.log.Info("reset: a reboot event of a QEMU replaced since; not starting again", "lab", l.Name, "machine", name)
		return
	}
	err := p.withDomain(l, name, func(c *golibvirt.Connect, d *golibvirt.Domain) error {
		if s, err := powerState(d); err != nil || s != power.On {
			return err
		}
		p.log.Info("reset: starting the machine again cold", "lab", l.Name, "machine", name)
		return p.setPower(ctx, l, c, d, name, power.ActionReset)
	})
	if err != nil {
		p.log.Error("restart after reset", "lab", l.Name, "machine", name, "err", err)
	}
}

// markStarted records that machine name's QEMU started now.
func (p *Provider) markStarted(l *lab.Lab, name string) {
	p.mu.Lock()
	p.started[machineKey(l, name)] = time.Now()
	p.mu.Unlock()
}

// startedAfter reports whether machine name's QEMU started after t.
func (p *Provider) startedAfter(l *lab.Lab, name string, t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started[machineKey(l, name)].After(t)
}

// machineKey names machine name of lab l in the provider's maps (one
// provider may drive several labs).
func machineKey(l *lab.Lab, name string) string { return l.Dir + "\x00" + name }

// lockMachine serialises what changes machine name's power: a restart after
// a reset and a BMC's request must not interleave.
func (p *Provider) lockMachine(l *lab.Lab, name string) (unlock func()) {
	key := machineKey(l, name)
	p.mu.Lock()
	m := p.machineLocks[key]
	if m == nil {
		m = new(sync.Mutex)
		p.machineLocks[key] = m
	}
	p.mu.Unlock()
	m.Lock()
	return m.Unlock
}
