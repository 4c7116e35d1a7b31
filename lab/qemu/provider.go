// Package qemu is the lab.Provider that runs each machine as a QEMU process
// driven over QMP, with a bridge and taps in the lab's namespace: no libvirtd.
package qemu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

// Provider runs machines as QEMU processes. Every method runs in the
// caller's network namespace, which must be the lab's.
type Provider struct {
	log *slog.Logger

	Binary      string        // qemu-system-x86_64
	SwtpmBinary string        // swtpm, for machines with a TPM
	Firmware    firmware.OVMF // for UEFI machines
	// SecureBootFirmware is for UEFI machines with Secure Boot.
	SecureBootFirmware firmware.OVMF
	Accel              vm.Accel // empty: TCG (the lab process probes KVM and sets it)
	// OnProcess, if set, is told each QEMU pid as it starts (0 when it is
	// gone), by role "qemu/<machine>" (and each swtpm's by
	// "swtpm/<machine>"), so the lab's state file can record it.
	OnProcess func(role string, pid int)

	mu    sync.Mutex
	procs map[string]*exec.Cmd // started by this process; reaped by wait goroutines
	tpms  map[string]int       // the current swtpm pid of each machine with a TPM
}

// New returns a QEMU provider with Debian's paths.
func New(log *slog.Logger) *Provider {
	return &Provider{
		log:                log,
		Binary:             "qemu-system-x86_64",
		SwtpmBinary:        "swtpm",
		Firmware:           firmware.DebianOVMF,
		SecureBootFirmware: firmware.DebianOVMFSecureBoot,
		procs:              map[string]*exec.Cmd{},
		tpms:               map[string]int{},
	}
}

var (
	_ lab.Provider      = (*Provider)(nil)
	_ lab.PowerDriver   = (*Provider)(nil)
	_ lab.FaultReporter = (*Provider)(nil)
)

func (p *Provider) Name() string { return "qemu" }

// ovmf is m's firmware build (its code and NVRAM template).
func (p *Provider) ovmf(m lab.Machine) firmware.OVMF {
	if m.SecureBoot {
		return p.SecureBootFirmware
	}
	return p.Firmware
}

func (p *Provider) accel() vm.Accel {
	if p.Accel == "" {
		return vm.TCG
	}
	return p.Accel
}

// CreateMachine makes m's tap, disk and NVRAM (kept if they exist) and starts it.
func (p *Provider) CreateMachine(ctx context.Context, l *lab.Lab, m lab.Machine) error {
	if err := vm.Prepare(ctx, l, m, p.ovmf(m), false); err != nil {
		return err
	}
	if err := addTap(ctx, l, m.Name); err != nil {
		return err
	}
	return p.start(ctx, l, m, nil)
}

// Reimage gives m a blank disk and fresh NVRAM; it must be off.
func (p *Provider) Reimage(ctx context.Context, l *lab.Lab, m lab.Machine) error {
	if st, _ := p.PowerState(ctx, l, m.Name); st == power.On {
		return fmt.Errorf("machine %s: reimage: power it off first", m.Name)
	}
	if err := vm.Prepare(ctx, l, m, p.ovmf(m), true); err != nil {
		return err
	}
	// A restored or saved machine's overlays go with its old disk.
	if err := dropOverlays(machineFiles(l, m.Name)); err != nil {
		return err
	}
	return p.CreateMachine(ctx, l, m)
}

// Destroy stops every machine found under l.Dir (not only those in l, so
// that a half-created lab is cleaned too), deletes taps, disks and the bridge.
func (p *Provider) Destroy(ctx context.Context, l *lab.Lab) error {
	var errs []error
	for _, name := range l.MachineNames() {
		f := machineFiles(l, name)
		if err := p.stop(ctx, f, name); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := deleteTap(ctx, name); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(f.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := deleteBridge(ctx, l); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (p *Provider) notify(machine string, pid int) { p.notifyRole("qemu/"+machine, pid) }

func (p *Provider) notifyRole(role string, pid int) {
	if p.OnProcess != nil {
		p.OnProcess(role, pid)
	}
}
