package libvirt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	golibvirt "libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

// Paused reports whether libvirt holds the machine's guest paused (a fault
// step's pause; Pause and Resume are the snapshot's, in snapshot.go).
func (p *Provider) Paused(ctx context.Context, l *lab.Lab, machine string) (bool, error) {
	var paused bool
	err := p.withDomain(l, machine, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
		st, _, err := d.GetState()
		if err != nil {
			return fmt.Errorf("lab %s: machine %s: state: %w", l.Name, machine, err)
		}
		paused = st == golibvirt.DOMAIN_PAUSED
		return nil
	})
	return paused, err
}

// SetLink puts the carrier of the machine's NIC on or off, as pulling its
// cable would: the running domain's interface updated with its link state.
func (p *Provider) SetLink(ctx context.Context, l *lab.Lab, machine string, up bool) error {
	state := map[bool]string{true: "up", false: "down"}[up]
	return p.withDomain(l, machine, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
		s, err := d.GetXMLDesc(0)
		if err != nil {
			return fmt.Errorf("lab %s: machine %s: %w", l.Name, machine, err)
		}
		var x libvirtxml.Domain
		if err := x.Unmarshal(s); err != nil {
			return fmt.Errorf("lab %s: machine %s: %w", l.Name, machine, err)
		}
		if x.Devices == nil || len(x.Devices.Interfaces) == 0 {
			return fmt.Errorf("lab %s: machine %s has no NIC", l.Name, machine)
		}
		nic := x.Devices.Interfaces[0]
		nic.Link = &libvirtxml.DomainInterfaceLink{State: state}
		raw, err := nic.Marshal()
		if err != nil {
			return err
		}
		if err := d.UpdateDeviceFlags(raw, golibvirt.DOMAIN_DEVICE_MODIFY_LIVE); err != nil {
			return fmt.Errorf("lab %s: machine %s: link %s: %w", l.Name, machine, state, err)
		}
		return nil
	})
}

// AttachRelay puts the lab process's link relay between the machine's NIC
// and the segment, as the QEMU provider does (vm.RelayOn: chardevs and
// filter-redirectors, which libvirt does not model, added through its QEMU
// monitor passthrough on the netdev libvirt names hostnet0).
func (p *Provider) AttachRelay(ctx context.Context, l *lab.Lab, machine string) error {
	err := p.withDomain(l, machine, func(_ *golibvirt.Connect, dom *golibvirt.Domain) error {
		for _, cmd := range vm.RelayOn("hostnet0", l.MachineFiles(machine)) {
			if _, err := qemuMonitor(dom, cmd); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lab %s: machine %s: link relay: %w", l.Name, machine, err)
	}
	return nil
}

// DetachRelay takes the relay off again; a machine that is not running
// has none.
func (p *Provider) DetachRelay(ctx context.Context, l *lab.Lab, machine string) error {
	err := p.withDomain(l, machine, func(_ *golibvirt.Connect, dom *golibvirt.Domain) error {
		if active, err := dom.IsActive(); err == nil && !active {
			return nil
		}
		for _, cmd := range vm.RelayOff {
			if _, err := qemuMonitor(dom, cmd); err != nil && !vm.RelayGone(err) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lab %s: machine %s: take the link relay off: %w", l.Name, machine, err)
	}
	return nil
}

// qemuMonitor runs a QMP command on the domain's QEMU through libvirt and
// returns its answer; an answer that is QEMU's error is returned as one
// (libvirt passes it on as the answer, not as its own error).
func qemuMonitor(d *golibvirt.Domain, cmd string) (string, error) {
	out, err := d.QemuMonitorCommand(cmd, golibvirt.DOMAIN_QEMU_MONITOR_COMMAND_DEFAULT)
	if err != nil {
		return "", err
	}
	var answer struct {
		Error *struct {
			Class string `json:"class"`
			Desc  string `json:"desc"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &answer); err != nil {
		return "", fmt.Errorf("QEMU's answer %q: %w", out, err)
	}
	if answer.Error != nil {
		return "", errors.New(answer.Error.Class + ": " + answer.Error.Desc)
	}
	return out, nil
}
