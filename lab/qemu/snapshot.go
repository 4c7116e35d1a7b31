package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labctl/labctl/internal/filecopy"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

var _ lab.Snapshotter = (*Provider)(nil)

// A machine's disk is a qcow2 chain in its directory (see vm.DiskChain).
// The one QEMU writes is named in disk.active (no such file: the base).

// Snapshot file names inside a machine's snapshot directory.
const (
	snapState  = "state"       // QEMU's migration stream: memory and devices
	snapTop    = "disk.top"    // the chain's top, by name
	snapTPM    = "tpm"         // swtpm's state directory (machines with a TPM)
	activeName = "disk.active" // in a machine's directory
)

// activeDisk is the image QEMU writes for the machine.
func activeDisk(f files) string {
	if raw, err := os.ReadFile(filepath.Join(f.Dir, activeName)); err == nil {
		if name := strings.TrimSpace(string(raw)); name != "" {
			return filepath.Join(f.Dir, name)
		}
	}
	return f.Disk
}

func setActive(f files, name string) error {
	tmp := filepath.Join(f.Dir, activeName+".tmp")
	if err := os.WriteFile(tmp, []byte(name+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(f.Dir, activeName))
}

// SaveMachine implements lab.Snapshotter: the disk first (the paused
// machine's disk moves onto a new, empty overlay; the chain below is
// linked into dir), then memory and devices through a migration into a
// file QEMU is handed, so no shell or helper writes it.
func (p *Provider) SaveMachine(ctx context.Context, l *lab.Lab, machine, dir string) error {
	m, err := vm.Record(l, machine)
	if err != nil {
		return err
	}
	f := machineFiles(l, machine)
	if qemuPid(f) == 0 {
		return fmt.Errorf("machine %s is off: only a running machine is saved", machine)
	}
	top := filepath.Base(activeDisk(f))
	next, err := vm.NewOverlay(ctx, f.Dir, top, m.DiskGiB)
	if err != nil {
		return fmt.Errorf("machine %s: %w", machine, err)
	}
	snap := fmt.Sprintf(`{"execute":"blockdev-snapshot-sync","arguments":{"device":"disk0","snapshot-file":%q,"format":"qcow2","mode":"existing"}}`,
		filepath.Join(f.Dir, next))
	if err := qmpRun(f, snap); err != nil {
		os.Remove(filepath.Join(f.Dir, next))
		return fmt.Errorf("machine %s: disk overlay: %w", machine, err)
	}
	if err := setActive(f, next); err != nil {
		return fmt.Errorf("machine %s: %w", machine, err)
	}
	if err := vm.LinkChain(f.Dir, dir, next); err != nil {
		return fmt.Errorf("machine %s: %w", machine, err)
	}
	if err := os.WriteFile(filepath.Join(dir, snapTop), []byte(top+"\n"), 0o644); err != nil {
		return err
	}
	for _, extra := range []string{f.NVRAM, f.Boot, f.SerialLog} {
		if err := filecopy.Copy(extra, filepath.Join(dir, filepath.Base(extra))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("machine %s: %w", machine, err)
		}
	}
	if err := migrateTo(ctx, f, filepath.Join(dir, snapState)); err != nil {
		return fmt.Errorf("machine %s: save memory and devices: %w", machine, err)
	}
	if m.TPM {
		// After the migration: QEMU has finished the TPM's last command
		// and taken its volatile state (PCRs, sessions) into the stream;
		// paused, nothing changes the permanent state (seeds, NV) swtpm
		// keeps in its directory, the one a cold start after a restore
		// reads.
		if err := vm.CopyTPMState(f.TPMState, filepath.Join(dir, snapTPM)); err != nil {
			return fmt.Errorf("machine %s: save its TPM's state: %w", machine, err)
		}
	}
	return nil
}

// migrateTo migrates the paused machine's state into a new file path.
func migrateTo(ctx context.Context, f files, path string) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	mon, err := monitor(f.QMP)
	if err != nil {
		return fmt.Errorf("QMP %s: %w", f.QMP, err)
	}
	defer mon.Disconnect()
	if _, err := mon.RunWithFile([]byte(`{"execute":"getfd","arguments":{"fdname":"snapshot"}}`), out); err != nil {
		return fmt.Errorf("hand QEMU the state file: %w", err)
	}
	// A paused machine's state goes at disk speed, not at the default
	// bandwidth cap meant for live migration over a network.
	if _, err := mon.Run([]byte(`{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":17179869184}}`)); err != nil {
		return err
	}
	if _, err := mon.Run([]byte(`{"execute":"migrate","arguments":{"uri":"fd:snapshot"}}`)); err != nil {
		return err
	}
	for {
		raw, err := mon.Run([]byte(`{"execute":"query-migrate"}`))
		if err != nil {
			return err
		}
		var r struct {
			Return struct {
				Status    string `json:"status"`
				ErrorDesc string `json:"error-desc"`
			} `json:"return"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("query-migrate: %w: %s", err, raw)
		}
		switch r.Return.Status {
		case "completed":
			return out.Sync()
		case "failed", "cancelled":
			return fmt.Errorf("migration %s: %s", r.Return.Status, r.Return.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			mon.Run([]byte(`{"execute":"migrate_cancel"}`))
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RestoreMachine implements lab.Snapshotter: the saved chain linked into
// the machine's directory under a new overlay of its own (two labs restored
// from one snapshot share only read-only images), its NVRAM and boot order
// copied, and QEMU started paused (-S) with its state coming in from the
// saved file. It returns once the state is loaded.
func (p *Provider) RestoreMachine(ctx context.Context, l *lab.Lab, m lab.Machine, dir string) error {
	f := machineFiles(l, m.Name)
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(dir, snapTop))
	if err != nil {
		return fmt.Errorf("machine %s: snapshot %s: %w", m.Name, dir, err)
	}
	top := strings.TrimSpace(string(raw))
	if err := vm.LinkChain(dir, f.Dir, ""); err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	for _, extra := range []string{f.NVRAM, f.Boot, f.SerialLog} {
		if err := filecopy.Copy(filepath.Join(dir, filepath.Base(extra)), extra); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("machine %s: %w", m.Name, err)
		}
	}
	next, err := vm.NewOverlay(ctx, f.Dir, top, m.DiskGiB)
	if err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	if err := setActive(f, next); err != nil {
		return err
	}
	// Prepare keeps the disk and NVRAM just put there and writes the
	// machine's record.
	if err := vm.Prepare(ctx, l, m, p.ovmf(m), false); err != nil {
		return err
	}
	if err := addTap(ctx, l, m.Name); err != nil {
		return err
	}
	if m.TPM {
		// swtpm starts on the saved state (startFrom starts it before
		// QEMU), and QEMU's incoming migration then sets the volatile
		// state it saved. A snapshot made before TPM state was saved has
		// none: the stream carries it alone.
		if err := vm.CopyTPMState(filepath.Join(dir, snapTPM), f.TPMState); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("machine %s: restore its TPM's state: %w", m.Name, err)
		}
	}
	state, err := os.Open(filepath.Join(dir, snapState))
	if err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	defer state.Close()
	if err := p.startIncoming(ctx, l, m, state); err != nil {
		return err
	}
	return waitLoaded(ctx, m.Name, f)
}

// waitLoaded waits until QEMU has read the machine's saved state: it
// stays in "inmigrate" until then, and paused after (-S).
func waitLoaded(ctx context.Context, machine string, f files) error {
	mon, err := monitor(f.QMP)
	if err != nil {
		return fmt.Errorf("machine %s: QMP %s: %w", machine, f.QMP, err)
	}
	defer mon.Disconnect()
	for {
		raw, err := mon.Run([]byte(`{"execute":"query-status"}`))
		if err != nil {
			return fmt.Errorf("machine %s: query-status: %w", machine, err)
		}
		var r struct {
			Return struct {
				Status string `json:"status"`
			} `json:"return"`
		}
		json.Unmarshal(raw, &r)
		switch r.Return.Status {
		case "inmigrate":
		case "paused", "prelaunch":
			return nil
		default:
			return fmt.Errorf("machine %s: loading its saved state ended in QEMU state %q", machine, r.Return.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("machine %s: loading its saved state: %w", machine, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// dropOverlays removes the overlays above a machine's base disk, so it
// starts again from the base alone (after Reimage made that blank).
func dropOverlays(f files) error {
	if err := vm.DropOverlays(f.Dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(f.Dir, activeName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
