package libvirt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	golibvirt "libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/filecopy"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

var _ lab.Snapshotter = (*Provider)(nil)

// Snapshot file names inside a machine's snapshot directory; the disk's
// chain (vm.DiskChain), the NVRAM and the serial log sit beside them.
const (
	snapState = "state"    // libvirt's save image: the domain's XML, memory and devices
	snapTop   = "disk.top" // the chain's top, by name
	snapTPM   = "tpm"      // the swtpm's state directory (machines with a TPM)
)

// Pause implements lab.Snapshotter.
func (p *Provider) Pause(ctx context.Context, l *lab.Lab, machine string) error {
	return p.withDomain(l, machine, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
		if err := d.Suspend(); err != nil {
			return fmt.Errorf("lab %s: pause machine %s: %w", l.Name, machine, err)
		}
		return nil
	})
}

// Resume implements lab.Snapshotter.
func (p *Provider) Resume(ctx context.Context, l *lab.Lab, machine string) error {
	return p.withDomain(l, machine, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
		if err := d.Resume(); err != nil {
			return fmt.Errorf("lab %s: resume machine %s: %w", l.Name, machine, err)
		}
		return nil
	})
}

// SaveMachine implements lab.Snapshotter with one external snapshot of
// the paused domain, kept by no libvirt metadata: libvirt writes its
// memory and device state into dir as a save image (what virDomainSave
// writes, restorable with virDomainRestore), then moves its disk onto a
// new, empty overlay made here, leaving the domain paused. The chain below
// is never written again and is linked into dir. The domain's definition
// names the overlay too, so that a cold start (a reset) keeps to it.
func (p *Provider) SaveMachine(ctx context.Context, l *lab.Lab, machine, dir string) error {
	m, _, err := l.Machine(machine)
	if err != nil {
		return err
	}
	f := l.MachineFiles(machine)
	return p.withDomain(l, machine, func(c *golibvirt.Connect, d *golibvirt.Domain) error {
		live, err := d.GetXMLDesc(0)
		if err != nil {
			return fmt.Errorf("machine %s: %w", machine, err)
		}
		var x libvirtxml.Domain
		if err := x.Unmarshal(live); err != nil {
			return fmt.Errorf("machine %s: domain XML: %w", machine, err)
		}
		top, err := diskFile(&x)
		if err != nil || filepath.Dir(top) != f.Dir {
			return fmt.Errorf("machine %s: its disk %q is not in %s (%v)", machine, top, f.Dir, err)
		}
		next, err := vm.NewOverlay(ctx, f.Dir, filepath.Base(top), m.DiskGiB)
		if err != nil {
			return fmt.Errorf("machine %s: %w", machine, err)
		}
		snap := libvirtxml.DomainSnapshot{
			Memory: &libvirtxml.DomainSnapshotMemory{Snapshot: "external", File: filepath.Join(dir, snapState)},
			Disks: &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{{
				Name: "vda", Snapshot: "external",
				Driver: &libvirtxml.DomainDiskDriver{Type: "qcow2"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: filepath.Join(f.Dir, next)}},
			}}},
		}
		sx, err := snap.Marshal()
		if err != nil {
			return err
		}
		s, err := d.CreateSnapshotXML(sx, golibvirt.DOMAIN_SNAPSHOT_CREATE_NO_METADATA|golibvirt.DOMAIN_SNAPSHOT_CREATE_REUSE_EXT)
		if err != nil {
			os.Remove(filepath.Join(f.Dir, next))
			return fmt.Errorf("machine %s: save: %w", machine, err)
		}
		s.Free()
		if err := p.setDisk(c, d, filepath.Join(f.Dir, next)); err != nil {
			return fmt.Errorf("machine %s: %w", machine, err)
		}
		if err := vm.LinkChain(f.Dir, dir, next); err != nil {
			return fmt.Errorf("machine %s: %w", machine, err)
		}
		if err := os.WriteFile(filepath.Join(dir, snapTop), []byte(filepath.Base(top)+"\n"), 0o644); err != nil {
			return err
		}
		// Paused, OVMF writes no variables: the NVRAM is as at the save.
		for _, extra := range []string{f.NVRAM, f.SerialLog} {
			if err := filecopy.Copy(extra, filepath.Join(dir, filepath.Base(extra))); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("machine %s: %w", machine, err)
			}
		}
		if m.TPM {
			// The save image holds the TPM's volatile state (QEMU's
			// tpm-emulator section); paused, its permanent state in
			// libvirt's swtpm directory changes no more.
			if err := vm.CopyTPMState(p.Daemon(l).SwtpmDir(m.UUID), filepath.Join(dir, snapTPM)); err != nil {
				return fmt.Errorf("machine %s: save its TPM's state: %w", machine, err)
			}
		}
		return nil
	})
}

// setDisk makes the domain's definition (for its next cold start) name
// path as its disk, if it does not already.
func (p *Provider) setDisk(c *golibvirt.Connect, d *golibvirt.Domain, path string) error {
	x, err := persistentXML(d)
	if err != nil {
		return err
	}
	if now, err := diskFile(x); err == nil && now == path {
		return nil
	}
	x.Devices.Disks[0].Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: path}}
	x.Devices.Disks[0].BackingStore = nil // the chain is path's own (see RestoreMachine)
	s, err := x.Marshal()
	if err != nil {
		return err
	}
	nd, err := c.DomainDefineXML(s)
	if err != nil {
		return fmt.Errorf("redefine domain on disk %s: %w", path, err)
	}
	return nd.Free()
}

// diskFile is the file of a domain's (only) disk.
func diskFile(x *libvirtxml.Domain) (string, error) {
	if x.Devices == nil || len(x.Devices.Disks) == 0 || x.Devices.Disks[0].Source == nil || x.Devices.Disks[0].Source.File == nil {
		return "", errors.New("domain has no disk file")
	}
	return x.Devices.Disks[0].Source.File.File, nil
}

// RestoreMachine implements lab.Snapshotter: the saved chain linked into
// the machine's directory under a new overlay of its own (two labs restored
// from one snapshot share only read-only images), its NVRAM copied, the
// domain defined as CreateMachine defines it but on that overlay, and
// restored paused from the save image, its disk the new overlay.
func (p *Provider) RestoreMachine(ctx context.Context, l *lab.Lab, m lab.Machine, dir string) error {
	f := l.MachineFiles(m.Name)
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(dir, snapTop))
	if err != nil {
		return fmt.Errorf("machine %s: snapshot %s: %w", m.Name, dir, err)
	}
	if err := vm.LinkChain(dir, f.Dir, ""); err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	for _, extra := range []string{f.NVRAM, f.SerialLog} {
		if err := filecopy.Copy(filepath.Join(dir, filepath.Base(extra)), extra); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("machine %s: %w", m.Name, err)
		}
	}
	next, err := vm.NewOverlay(ctx, f.Dir, strings.TrimSpace(string(raw)), m.DiskGiB)
	if err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	disk := filepath.Join(f.Dir, next)
	// Prepare keeps the disk and NVRAM just put there and writes the
	// machine's record.
	if err := vm.Prepare(ctx, l, m, firmware.DebianOVMF, false); err != nil {
		return err
	}
	def, err := domainXML(l, m, p.domainType())
	if err != nil {
		return fmt.Errorf("lab %s: %w", l.Name, err)
	}
	def.Devices.Disks[0].Source.File.File = disk
	dx, err := def.Marshal()
	if err != nil {
		return err
	}
	state := filepath.Join(dir, snapState)
	return p.with(l, func(c *golibvirt.Connect) error {
		d, err := c.DomainDefineXML(dx)
		if err != nil {
			return fmt.Errorf("define domain %s: %w", m.Name, err)
		}
		d.Free()
		if m.TPM {
			// libvirt starts the domain's swtpm on this state before QEMU
			// loads the save image (a snapshot without one: the image's
			// tpm-emulator section alone).
			if err := vm.CopyTPMState(filepath.Join(dir, snapTPM), p.Daemon(l).SwtpmDir(m.UUID)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("machine %s: restore its TPM's state: %w", m.Name, err)
			}
		}
		saved, err := c.DomainSaveImageGetXMLDesc(state, golibvirt.DOMAIN_SAVE_IMAGE_XML_SECURE)
		if err != nil {
			return fmt.Errorf("machine %s: read save image %s: %w", m.Name, state, err)
		}
		var x libvirtxml.Domain
		if err := x.Unmarshal(saved); err != nil {
			return fmt.Errorf("machine %s: save image's domain XML: %w", m.Name, err)
		}
		if _, err := diskFile(&x); err != nil {
			return fmt.Errorf("machine %s: save image %s: %w", m.Name, state, err)
		}
		// The host side is the restored lab's: its disk, NVRAM and console.
		// The saved XML describes the chain as it was before the save (for
		// a disk with no backing file, an empty <backingStore/>), and
		// libvirt opens the chain an XML gives as given: kept, the new
		// overlay would be opened with no backing, and the guest would
		// read zeros where its installed system was. Left out, libvirt
		// reads the chain from the overlay's qcow2 header.
		x.Devices.Disks[0].Source.File.File = disk
		x.Devices.Disks[0].BackingStore = nil
		if x.OS != nil && x.OS.NVRam != nil {
			x.OS.NVRam.NVRam = f.NVRAM
		}
		rx, err := x.Marshal()
		if err != nil {
			return err
		}
		if err := c.DomainRestoreFlags(state, rx, golibvirt.DOMAIN_SAVE_PAUSED); err != nil {
			return fmt.Errorf("machine %s: restore from %s: %w", m.Name, state, err)
		}
		p.log.Info("machine restored, paused", "lab", l.Name, "machine", m.Name, "disk", disk)
		return nil
	})
}
