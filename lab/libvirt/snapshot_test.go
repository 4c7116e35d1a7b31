package libvirt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	golibvirt "libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm/vmtest"
)

// TestSnapshot saves the pxe-smoke lab's BIOS and UEFI machines (real
// libvirtd and QEMU) once both run their NIC's iPXE, paused together, and
// restores them twice into labs of their own: the saved chain is shared
// read-only, each restore writes an overlay of its own, the NVRAM comes
// back as saved, and a restored machine waits paused, loaded from the
// saved state, until resumed. The UEFI machine has a TPM (libvirt's
// swtpm): its state is in the snapshot, and a value in the TPM's NV is
// there in each restored machine's TPM.
func TestSnapshot(t *testing.T) {
	l := newTestLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := New(testLogger(t))
	if err := p.CreateNetwork(ctx, l); err != nil {
		t.Fatal(err)
	}
	tpmValue := fmt.Sprintf("tpm-%08x", rand.Uint32())
	var tpmMachine *lab.Machine
	for i := range l.Machines {
		if l.Machines[i].Firmware == lab.UEFI {
			tpmMachine = &l.Machines[i]
		}
	}
	tpmMachine.TPM = true
	// As a guest keeps a secret in its TPM: in the TPM's NV, in the state
	// libvirt's swtpm will start on.
	vmtest.WriteTPMValue(t, p.Daemon(l).SwtpmDir(tpmMachine.UUID), tpmValue)
	if err := p.CreateMachines(ctx, l, l.Machines); err != nil {
		t.Fatal(err)
	}
	for _, m := range l.Machines {
		waitFor(t, m.Name+" to reach iPXE", 3*time.Minute, func() bool { return hasAll(serial(l, m.Name), firmwareMarkers[m.Firmware]) },
			func() string { return serial(l, m.Name) })
	}
	snap := t.TempDir()
	for _, m := range l.Machines {
		if err := p.Pause(ctx, l, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range l.Machines {
		dir := filepath.Join(snap, m.Name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := p.SaveMachine(ctx, l, m.Name, dir); err != nil {
			t.Fatal(err)
		}
		if got := domainState(t, p, l, m.Name); got != golibvirt.DOMAIN_PAUSED {
			t.Errorf("%s after save: state %d, want paused until resumed", m.Name, got)
		}
	}
	for _, m := range l.Machines {
		if err := p.Resume(ctx, l, m.Name); err != nil {
			t.Fatal(err)
		}
		f := l.MachineFiles(m.Name)
		dir := filepath.Join(snap, m.Name)
		if got := domainState(t, p, l, m.Name); got != golibvirt.DOMAIN_RUNNING {
			t.Errorf("%s after resume: state %d, want running", m.Name, got)
		}
		// It goes on in an overlay on the saved disk, now and after a cold
		// start; the snapshot holds that disk by hard link.
		live, def := domainDisks(t, p, l, m.Name)
		if want := filepath.Join(f.Dir, "disk.1.qcow2"); live != want || def != want || vmtest.Backing(t, want) != "disk.qcow2" {
			t.Errorf("%s writes %s, defined on %s (backing %q); want %s on disk.qcow2", m.Name, live, def, vmtest.Backing(t, want), want)
		}
		if vmtest.Inode(t, f.Disk) != vmtest.Inode(t, filepath.Join(dir, "disk.qcow2")) {
			t.Errorf("%s: the snapshot copied the disk instead of linking it", m.Name)
		}
		if st, err := os.Stat(filepath.Join(dir, snapState)); err != nil || st.Size() < 1<<20 {
			t.Fatalf("%s: saved state: %v, %v; want a file of the machine's memory", m.Name, st, err)
		}
		if m.Firmware == lab.UEFI {
			saved, _ := os.ReadFile(filepath.Join(dir, filepath.Base(f.NVRAM)))
			if live, _ := os.ReadFile(f.NVRAM); len(saved) == 0 || !bytes.Equal(saved, live) {
				t.Errorf("%s: the snapshot's NVRAM is not the machine's", m.Name)
			}
		}
		if m.TPM {
			saved, err := os.ReadFile(filepath.Join(dir, snapTPM, "tpm2-00.permall"))
			if err != nil || len(saved) == 0 {
				t.Errorf("%s: the snapshot holds no TPM state (%v)", m.Name, err)
			}
			if stream, _ := os.ReadFile(filepath.Join(dir, snapState)); !bytes.Contains(stream, []byte("tpm-emulator")) {
				t.Errorf("%s: the save image has no tpm-emulator section", m.Name)
			}
		}
	}

	// Two restores of one snapshot share only the read-only chain.
	overlays := map[string][]uint64{}
	prev := l
	for i := range 2 {
		// One lab at a time on the namespace's bridge.
		if err := New(testLogger(t)).Destroy(ctx, prev); err != nil {
			t.Fatal(err)
		}
		dir, err := os.MkdirTemp("", "lv")
		if err != nil {
			t.Fatal(err)
		}
		r := *l
		r.Dir = dir
		t.Cleanup(func() {
			New(testLogger(t)).Destroy(context.Background(), &r)
			os.RemoveAll(dir)
		})
		if err := p.CreateNetwork(ctx, &r); err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Machines {
			if err := p.RestoreMachine(ctx, &r, m, filepath.Join(snap, m.Name)); err != nil {
				t.Fatal(err)
			}
			if got := domainState(t, p, &r, m.Name); got != golibvirt.DOMAIN_PAUSED {
				t.Fatalf("restore %d: %s state %d, want paused until resumed", i, m.Name, got)
			}
		}
		if qemus := labQEMUs(t, &r); len(qemus) != len(r.Machines) {
			t.Fatalf("restore %d: %d QEMU processes, want %d", i, len(qemus), len(r.Machines))
		} else {
			for _, pid := range qemus {
				if cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")); !bytes.Contains(cmd, []byte("-incoming\x00")) {
					t.Errorf("restore %d: QEMU %d not started from a saved state: %s", i, pid, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))
				}
			}
		}
		for _, m := range r.Machines {
			if err := p.Resume(ctx, &r, m.Name); err != nil {
				t.Fatal(err)
			}
			if got := domainState(t, p, &r, m.Name); got != golibvirt.DOMAIN_RUNNING {
				t.Fatalf("restore %d: %s state %d after resume", i, m.Name, got)
			}
			f := r.MachineFiles(m.Name)
			live, def := domainDisks(t, p, &r, m.Name)
			if live != def || filepath.Dir(live) != f.Dir || vmtest.Backing(t, live) != "disk.qcow2" || vmtest.Inode(t, f.Disk) != vmtest.Inode(t, filepath.Join(snap, m.Name, "disk.qcow2")) {
				t.Errorf("restore %d: %s writes %s (defined on %s, backing %q), not an overlay of its own on the snapshot's disk", i, m.Name, live, def, vmtest.Backing(t, live))
			}
			overlays[m.Name] = append(overlays[m.Name], vmtest.Inode(t, live))
			// What the guest reads is the whole chain: QEMU opened the
			// saved disk under the overlay, not the overlay alone (where
			// an installed system would read as zeros).
			if got, want := openedChain(t, p, &r, m.Name), []string{live, f.Disk}; !slices.Equal(got, want) {
				t.Errorf("restore %d: %s: QEMU opened the chain %q, want %q", i, m.Name, got, want)
			}
			if m.Firmware == lab.UEFI {
				saved := filepath.Join(snap, m.Name, filepath.Base(f.NVRAM))
				a, _ := os.ReadFile(saved)
				if b, _ := os.ReadFile(f.NVRAM); !bytes.Equal(a, b) || vmtest.Inode(t, f.NVRAM) == vmtest.Inode(t, saved) {
					t.Errorf("restore %d: %s's NVRAM is not a copy of the saved one", i, m.Name)
				}
			}
		}
		prev = &r
	}
	for name, in := range overlays {
		if in[0] == in[1] {
			t.Errorf("%s: two restores write one overlay", name)
		}
	}
	// The restored TPM holds what the saved one held: read once its
	// domain is off (destroyed, still defined: libvirt keeps its state).
	if err := p.withDomain(prev, tpmMachine.Name, func(_ *golibvirt.Connect, d *golibvirt.Domain) error { return d.Destroy() }); err != nil {
		t.Fatal(err)
	}
	if got := vmtest.ReadTPMValue(t, p.Daemon(prev).SwtpmDir(tpmMachine.UUID), len(tpmValue)); got != tpmValue {
		t.Errorf("the restored %s's TPM holds %q at NV index %s, want %q", tpmMachine.Name, got, vmtest.TPMNVIndex, tpmValue)
	}
}

// openedChain is the disk chain QEMU has open for the machine's vda, top
// first, as QEMU itself reports it (query-block, through libvirt).
func openedChain(t *testing.T, p *Provider, l *lab.Lab, name string) []string {
	t.Helper()
	var out string
	if err := p.withDomain(l, name, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
		var err error
		out, err = d.QemuMonitorCommand(`{"execute":"query-block"}`, golibvirt.DOMAIN_QEMU_MONITOR_COMMAND_DEFAULT)
		return err
	}); err != nil {
		t.Fatalf("%s: query-block: %v", name, err)
	}
	type image struct {
		Filename string `json:"filename"`
		Backing  *image `json:"backing-image"`
	}
	var r struct {
		Return []struct {
			Qdev     string `json:"qdev"`
			Inserted *struct {
				Image image `json:"image"`
			} `json:"inserted"`
		} `json:"return"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%s: query-block: %v: %s", name, err, out)
	}
	for _, b := range r.Return {
		if !strings.Contains(b.Qdev, "virtio-disk0") || b.Inserted == nil {
			continue
		}
		var chain []string
		for img := &b.Inserted.Image; img != nil; img = img.Backing {
			f := img.Filename
			// An image opened with options QEMU names by them:
			// json:{"driver": "qcow2", "file": {"filename": ...}, ...}.
			var opts struct {
				File struct {
					Filename string `json:"filename"`
				} `json:"file"`
			}
			if rest, ok := strings.CutPrefix(f, "json:"); ok && json.Unmarshal([]byte(rest), &opts) == nil {
				f = opts.File.Filename
			}
			chain = append(chain, f)
		}
		return chain
	}
	t.Fatalf("%s: query-block shows no vda: %s", name, out)
	return nil
}

func domainState(t *testing.T, p *Provider, l *lab.Lab, name string) golibvirt.DomainState {
	t.Helper()
	var st golibvirt.DomainState
	if err := p.withDomain(l, name, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
		var err error
		st, _, err = d.GetState()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return st
}

// domainDisks are the disk file the domain runs on and the one its
// definition names for its next start.
func domainDisks(t *testing.T, p *Provider, l *lab.Lab, name string) (live, def string) {
	t.Helper()
	if err := p.withDomain(l, name, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
		s, err := d.GetXMLDesc(0)
		if err != nil {
			return err
		}
		var x libvirtxml.Domain
		if err := x.Unmarshal(s); err != nil {
			return err
		}
		if live, err = diskFile(&x); err != nil {
			return err
		}
		px, err := persistentXML(d)
		if err != nil {
			return err
		}
		def, err = diskFile(px)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return live, def
}
