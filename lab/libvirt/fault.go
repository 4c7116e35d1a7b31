package libvirt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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

// SetDelay holds the frames to and from the machine's NIC and releases
// them together every d, as the QEMU provider does (vm.DelayOn: QEMU's
// filter-buffer, which libvirt does not model, added through libvirt's
// QEMU monitor passthrough on the netdev libvirt names hostnet0); d 0
// takes it off.
func (p *Provider) SetDelay(ctx context.Context, l *lab.Lab, machine string, d time.Duration) error {
	cmd := vm.DelayOff
	if d > 0 {
		cmd = vm.DelayOn("hostnet0", d)
	}
	err := p.withDomain(l, machine, func(_ *golibvirt.Connect, dom *golibvirt.Domain) error {
		if active, err := dom.IsActive(); err == nil && !active && d == 0 {
			return nil // a machine that is not running has no filter
		}
		_, err := qemuMonitor(dom, cmd)
		return err
	})
	switch {
	case d == 0 && vm.DelayGone(err):
		return nil // healed already
	case err != nil:
		return fmt.Errorf("lab %s: machine %s: delay %s: %w", l.Name, machine, d, err)
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
