package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/vm/vmtest"
)

// qemuStatus is the machine's QEMU run state (running, paused, ...).
func qemuStatus(t *testing.T, f files) string {
	t.Helper()
	mon, err := monitor(f.QMP)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Disconnect()
	raw, err := mon.Run([]byte(`{"execute":"query-status"}`))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Return struct{ Status string } `json:"return"`
	}
	json.Unmarshal(raw, &r)
	return r.Return.Status
}

// TestSnapshot saves a running BIOS and a running UEFI machine (real QEMU)
// and restores each twice into labs of their own: the saved chain is
// shared read-only, each restore writes an overlay of its own, the NVRAM
// comes back as saved, and a restored machine waits paused until resumed.
// The UEFI machine has a TPM (swtpm): its state is in the snapshot, and a
// value in the TPM's NV is there in each restored machine's TPM.
func TestSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("runs QEMU in a network namespace")
	}
	for _, fw := range []lab.Firmware{lab.BIOS, lab.UEFI} {
		t.Run(string(fw), func(t *testing.T) { testSnapshot(t, fw) })
	}
}

func testSnapshot(t *testing.T, fw lab.Firmware) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("lt-qsnap-%08x", rand.Uint32())
	if err := netns.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(context.Background(), ns) })
	p := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.Accel = "tcg"
	newLab := func() *lab.Lab {
		l := &lab.Lab{Name: "t", Netns: ns, Dir: t.TempDir(), Network: lab.Network{
			Name: "labbr0", Subnet: netip.MustParsePrefix("10.77.0.0/24"), Gateway: netip.MustParseAddr("10.77.0.1"), Domain: "t.lab"}}
		t.Cleanup(func() { netns.Do(ns, func() error { return p.Destroy(context.Background(), l) }) })
		return l
	}
	m := testMachine(fw, power.BootNetwork, power.BootDisk)
	m.TPM = fw == lab.UEFI
	l := newLab()
	tpmValue := fmt.Sprintf("tpm-%08x", rand.Uint32())
	if m.TPM {
		// As a guest keeps a secret in its TPM: in the TPM's NV, kept in
		// the state swtpm keeps in the machine's directory.
		vmtest.WriteTPMValue(t, machineFiles(l, m.Name).TPMState, tpmValue)
	}
	inNetns(t, ns, func() error {
		if err := p.CreateNetwork(ctx, l); err != nil {
			return err
		}
		return p.CreateMachine(ctx, l, m)
	})
	f := machineFiles(l, m.Name)
	pid := qemuPid(f)
	snap := t.TempDir()
	if err := p.Pause(ctx, l, m.Name); err != nil {
		t.Fatal(err)
	}
	if err := p.SaveMachine(ctx, l, m.Name, snap); err != nil {
		t.Fatal(err)
	}
	if m.TPM {
		// Its permanent state as swtpm keeps it, copied while paused; its
		// volatile state (PCRs) in QEMU's stream, tpm-emulator's section.
		live, _ := os.ReadFile(filepath.Join(f.TPMState, "tpm2-00.permall"))
		if saved, err := os.ReadFile(filepath.Join(snap, snapTPM, "tpm2-00.permall")); err != nil || len(live) == 0 || !bytes.Equal(saved, live) {
			t.Errorf("the snapshot's TPM state is not the machine's (%v)", err)
		}
		if stream, _ := os.ReadFile(filepath.Join(snap, snapState)); !bytes.Contains(stream, []byte("tpm-emulator")) {
			t.Error("the saved state has no tpm-emulator section")
		}
	}
	if err := p.Resume(ctx, l, m.Name); err != nil {
		t.Fatal(err)
	}
	if st := qemuStatus(t, f); st != "running" || qemuPid(f) != pid {
		t.Fatalf("after save and resume: %s, pid %d (was %d); want the same QEMU running", st, qemuPid(f), pid)
	}
	// The machine goes on in an overlay on the saved disk, which the
	// snapshot holds by hard link.
	if active := activeDisk(f); filepath.Base(active) != "disk.1.qcow2" || vmtest.Backing(t, active) != "disk.qcow2" {
		t.Errorf("active disk %s (backing %q), want disk.1.qcow2 on disk.qcow2", active, vmtest.Backing(t, active))
	}
	if vmtest.Inode(t, f.Disk) != vmtest.Inode(t, filepath.Join(snap, "disk.qcow2")) {
		t.Error("the snapshot copied the disk instead of linking it")
	}
	if st, err := os.Stat(filepath.Join(snap, snapState)); err != nil || st.Size() < 1<<20 {
		t.Fatalf("saved state: %v, %v; want a file of the machine's memory", st, err)
	}
	if fw == lab.UEFI {
		saved, _ := os.ReadFile(filepath.Join(snap, filepath.Base(f.NVRAM)))
		if live, _ := os.ReadFile(f.NVRAM); len(saved) == 0 || !bytes.Equal(saved, live) {
			t.Error("the snapshot's NVRAM is not the machine's")
		}
	}

	// Two restores of one snapshot share only the read-only chain.
	var overlays []uint64
	for i := range 2 {
		r := newLab()
		inNetns(t, ns, func() error {
			if i == 0 { // the bridge and the tap are the restored lab's now
				p.Destroy(ctx, l)
				return p.CreateNetwork(ctx, r)
			}
			// One lab at a time: the first restore's machine goes, its files stay.
			if err := p.stop(ctx, machineFiles(l, m.Name), m.Name); err != nil {
				return err
			}
			return deleteTap(ctx, m.Name)
		})
		rf := machineFiles(r, m.Name)
		inNetns(t, ns, func() error { return p.RestoreMachine(ctx, r, m, snap) })
		if st := qemuStatus(t, rf); st != "paused" {
			t.Fatalf("restore %d: QEMU %s, want paused until resumed", i, st)
		}
		if err := p.Resume(ctx, r, m.Name); err != nil {
			t.Fatal(err)
		}
		if st := qemuStatus(t, rf); st != "running" {
			t.Fatalf("restore %d: QEMU %s after resume", i, st)
		}
		if !strings.Contains(cmdline(qemuPid(rf)), "-incoming fd:3") {
			t.Errorf("restore %d: QEMU not started from the saved state: %s", i, cmdline(qemuPid(rf)))
		}
		active := activeDisk(rf)
		if vmtest.Backing(t, active) != "disk.qcow2" || vmtest.Inode(t, rf.Disk) != vmtest.Inode(t, filepath.Join(snap, "disk.qcow2")) {
			t.Errorf("restore %d: active %s on %q, not on the snapshot's disk", i, active, vmtest.Backing(t, active))
		}
		overlays = append(overlays, vmtest.Inode(t, active))
		if fw == lab.UEFI {
			saved, _ := os.ReadFile(filepath.Join(snap, filepath.Base(rf.NVRAM)))
			if live, _ := os.ReadFile(rf.NVRAM); !bytes.Equal(saved, live) || vmtest.Inode(t, rf.NVRAM) == vmtest.Inode(t, filepath.Join(snap, filepath.Base(rf.NVRAM))) {
				t.Errorf("restore %d: NVRAM not a copy of the saved one", i)
			}
		}
		if m.TPM {
			// Its swtpm started on the saved state, in the restored machine's directory.
			if pid := proc.ReadPidFile(rf.TPMPid); !proc.Runs(pid, "dir="+rf.TPMState) {
				t.Errorf("restore %d: no swtpm on %s (pid %d: %s)", i, rf.TPMState, pid, cmdline(pid))
			}
		}
		l = r
	}
	if overlays[0] == overlays[1] {
		t.Error("two restores write one overlay")
	}
	if m.TPM {
		// The restored TPM holds what the saved one held.
		inNetns(t, ns, func() error { return p.stop(ctx, machineFiles(l, m.Name), m.Name) })
		if got := vmtest.ReadTPMValue(t, machineFiles(l, m.Name).TPMState, len(tpmValue)); got != tpmValue {
			t.Errorf("the restored machine's TPM holds %q at NV index %s, want %q", got, vmtest.TPMNVIndex, tpmValue)
		}
	}
}
