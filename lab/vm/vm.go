// Package vm is what both lab providers share about a virtual machine: its
// files on disk (disk image, NVRAM, the record of the machine as created)
// and the accelerator guests run under.
package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
)

// RebootTimeout is how long SeaBIOS waits, after no boot device worked,
// before it starts the machine again (QEMU's -boot reboot-timeout,
// libvirt's <bios rebootTimeout>): a machine that found no boot service or
// DHCP retries until they answer again, as a rack's servers are set to,
// rather than stay at "No bootable device". OVMF ignores it: RetryUEFIBoots
// does the same for UEFI machines.
const RebootTimeout = 5 * time.Second

// Prepare validates m and gives it its directory, a qcow2 disk, for UEFI an
// NVRAM copied from fw's template, and its record (see Record). fresh
// replaces a disk and NVRAM that exist (a reimaged machine starts blank);
// otherwise they are kept.
func Prepare(ctx context.Context, l *lab.Lab, m lab.Machine, fw firmware.OVMF, fresh bool) error {
	if err := m.Validate(); err != nil {
		return err
	}
	f := l.MachineFiles(m.Name)
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	if fresh {
		os.Remove(f.Disk)
		os.Remove(f.NVRAM)
	}
	if _, err := os.Stat(f.Disk); err != nil {
		if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", f.Disk, fmt.Sprintf("%dG", m.DiskGiB)).CombinedOutput(); err != nil {
			return fmt.Errorf("machine %s: create disk %s: %w: %s", m.Name, f.Disk, err, strings.TrimSpace(string(out)))
		}
	}
	if _, err := os.Stat(f.NVRAM); err != nil && m.Firmware == lab.UEFI {
		if err := fw.NewNVRAM(f.NVRAM); err != nil {
			return fmt.Errorf("machine %s: NVRAM: %w", m.Name, err)
		}
	}
	raw, _ := json.Marshal(m)
	if err := os.WriteFile(f.Record, raw, 0o644); err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	return nil
}

// Record reads the machine as Prepare recorded it, so that power and boot
// device work in any process (the lab process, a virtual BMC, the CLI).
func Record(l *lab.Lab, name string) (lab.Machine, error) {
	raw, err := os.ReadFile(l.MachineFiles(name).Record)
	if err != nil {
		return lab.Machine{}, fmt.Errorf("no machine %s in lab %s", name, l.Name)
	}
	var m lab.Machine
	if err := json.Unmarshal(raw, &m); err != nil {
		return lab.Machine{}, fmt.Errorf("machine %s: %w", name, err)
	}
	return m, nil
}

// BootRequest is the recorded machine of l that a request to boot from d
// names, or the request's refusal, for both providers: a device they do
// not know, UEFI HTTP boot on BIOS, or a URI other than the lab's own for
// the machine (lab.HTTPBootURI): OVMF takes the URI from DHCP, and the
// lab's DHCP offers that one.
func BootRequest(l *lab.Lab, machine string, d power.BootDevice, o power.BootOptions) (lab.Machine, error) {
	if !d.Valid() {
		return lab.Machine{}, fmt.Errorf("machine %s: boot device %q %s", machine, d, power.ErrBootDevice)
	}
	m, err := Record(l, machine)
	if err != nil {
		return lab.Machine{}, err
	}
	return m, checkHTTPBoot(l, m, d, o)
}

func checkHTTPBoot(l *lab.Lab, m lab.Machine, d power.BootDevice, o power.BootOptions) error {
	if d != power.BootHTTP {
		if o.URI != "" {
			return fmt.Errorf("machine %s: an HTTP boot URI (%s) with boot device %s: a URI goes with http only", m.Name, o.URI, d)
		}
		return nil
	}
	if m.Firmware != lab.UEFI {
		return fmt.Errorf("machine %s: boot device http (UEFI HTTP boot) on %s firmware: it needs uefi", m.Name, m.Firmware)
	}
	if want := l.HTTPBootURI(m); o.URI != "" && o.URI != want {
		return fmt.Errorf("machine %s: HTTP boot URI %s: the firmware takes its URI from the lab's DHCP, which offers %s only", m.Name, o.URI, want)
	}
	return nil
}
