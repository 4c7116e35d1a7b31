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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netem"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
)

// inNetns runs fn on a thread inside ns: the provider's ip and qemu
// commands inherit that namespace.
func inNetns(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if err := netns.Do(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// waitNewPid waits until the machine's QEMU is a process other than old,
// started and answering (the provider's restart is over).
func waitNewPid(t *testing.T, f files, old int) int {
	t.Helper()
	for range 100 {
		_, err := os.Stat(f.Restart)
		if pid := qemuPid(f); pid != 0 && pid != old && os.IsNotExist(err) {
			return pid
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no new QEMU process in 10s (old pid %d)", old)
	return 0
}

func cmdline(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(raw), "\x00", " ")
}

// TestProvider drives real QEMU processes: create, power, boot device once,
// a crash of the owning process, and idempotent destroy.
func TestProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("runs QEMU in a network namespace")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("lt-qemu-%08x", rand.Uint32())
	if err := netns.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(context.Background(), ns) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := &lab.Lab{Name: "t", Netns: ns, Dir: t.TempDir(), Network: lab.Network{
		Name: "labbr0", Subnet: netip.MustParsePrefix("10.77.0.0/24"), Gateway: netip.MustParseAddr("10.77.0.1"), Domain: "t.lab"}}
	p := New(log)
	p.Accel = "tcg"
	t.Cleanup(func() { netns.Do(ns, func() error { return p.Destroy(context.Background(), l) }) })
	m := testMachine(lab.UEFI, power.BootNetwork, power.BootDisk)
	inNetns(t, ns, func() error {
		if err := p.CreateNetwork(ctx, l); err != nil {
			return err
		}
		return p.CreateMachine(ctx, l, m)
	})
	f := machineFiles(l, m.Name)
	pid := qemuPid(f)

	t.Run("running with its identity", func(t *testing.T) {
		if st, err := p.PowerState(ctx, l, m.Name); err != nil || st != power.On {
			t.Fatalf("power = %v, %v; want on", st, err)
		}
		c := cmdline(pid)
		for _, want := range []string{"-uuid " + m.UUID, "mac=52:54:00:77:00:11,bootindex=1", "-accel tcg"} {
			if !strings.Contains(c, want) {
				t.Errorf("qemu cmdline lacks %q: %s", want, c)
			}
		}
		out, err := netns.Command(ctx, ns, "ip", "-o", "link", "show", "master", "labbr0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), tapName(m.Name)) {
			t.Errorf("tap %s not on labbr0: %v: %s", tapName(m.Name), err, out)
		}
		for _, file := range []string{f.Disk, f.NVRAM, f.Console, f.QMP, f.Events} {
			if _, err := os.Stat(file); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("boot device once takes effect on reset, then reverts", func(t *testing.T) {
		if err := p.SetBootDevice(ctx, l, m.Name, power.BootDisk, power.BootOptions{}); err != nil {
			t.Fatal(err)
		}
		inNetns(t, ns, func() error { return p.SetPower(ctx, l, m.Name, power.ActionReset) })
		next := qemuPid(f)
		if next == 0 || next == pid {
			t.Fatalf("reset: pid %d -> %d, want a new QEMU process", pid, next)
		}
		if c := cmdline(next); !strings.Contains(c, "drive=disk0,bootindex=1") {
			t.Errorf("after once=disk and reset: %s", c)
		}
		// The one-time order is for this boot only: a reset (here over QMP,
		// as a guest's reboot makes one) is a cold start in the persistent
		// order.
		if err := qmpRun(f, `{"execute":"system_reset"}`); err != nil {
			t.Fatal(err)
		}
		after := waitNewPid(t, f, next)
		if c := cmdline(after); !strings.Contains(c, "mac=52:54:00:77:00:11,bootindex=1") {
			t.Errorf("cold start after a reset still boots the disk first: %s", c)
		}
		if st, err := p.PowerState(ctx, l, m.Name); err != nil || st != power.On {
			t.Errorf("power after a reset = %v, %v; want on", st, err)
		}
		if fault, _ := p.MachineFault(ctx, l, m.Name); fault != "" {
			t.Errorf("fault after a reset: %s", fault)
		}
	})

	t.Run("quit that is no reset leaves it off", func(t *testing.T) {
		last := qemuPid(f)
		if err := qmpRun(f, `{"execute":"quit"}`); err != nil {
			t.Fatal(err)
		}
		if !proc.WaitGone(ctx, last, 5*time.Second) {
			t.Fatalf("qemu %d still runs after quit", last)
		}
		// The wait goroutine drops the record once it has decided not to
		// start the machine again; a restart would keep it.
		deadline := time.Now().Add(5 * time.Second)
		for p.recorded(m.Name) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if p.recorded(m.Name) {
			t.Fatalf("the provider still holds a QEMU for %s after quit (started again: pid %d)", m.Name, qemuPid(f))
		}
		if st, _ := p.PowerState(ctx, l, m.Name); st != power.Off {
			t.Fatalf("power = %s after quit, want off (started again: pid %d)", st, qemuPid(f))
		}
		if fault, _ := p.MachineFault(ctx, l, m.Name); fault != "" {
			t.Errorf("fault after a clean quit: %s", fault)
		}
	})

	t.Run("off and on", func(t *testing.T) {
		if err := p.SetPower(ctx, l, m.Name, power.ActionOff); err != nil {
			t.Fatal(err)
		}
		if st, _ := p.PowerState(ctx, l, m.Name); st != power.Off {
			t.Fatalf("power = %s after off", st)
		}
		inNetns(t, ns, func() error { return p.SetPower(ctx, l, m.Name, power.ActionOn) })
		if st, _ := p.PowerState(ctx, l, m.Name); st != power.On {
			t.Fatalf("power = %s after on", st)
		}
	})

	t.Run("pause, resume, link off and on", func(t *testing.T) {
		steps := []struct {
			what   string
			do     func() error
			paused bool
		}{
			{"pause", func() error { return p.Pause(ctx, l, m.Name) }, true},
			{"pause again", func() error { return p.Pause(ctx, l, m.Name) }, true},
			{"resume", func() error { return p.Resume(ctx, l, m.Name) }, false},
			// QEMU refuses a set_link naming no device: these name the NIC.
			{"link off", func() error { return p.SetLink(ctx, l, m.Name, false) }, false},
			{"link on", func() error { return p.SetLink(ctx, l, m.Name, true) }, false},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.what, err)
			}
			if paused, err := p.Paused(ctx, l, m.Name); err != nil || paused != s.paused {
				t.Fatalf("after %s: paused %v, %v; want %v", s.what, paused, err, s.paused)
			}
		}
	})

	// The lab process's relay (lab/netem) between the NIC and the
	// segment: the frames the firmware sends (DHCP discovers, from a reset
	// just before) reach the segment through it, and once it is cleared
	// QEMU holds none of its filters or chardevs.
	t.Run("link relay on and off", func(t *testing.T) {
		dhcp, err := netns.ListenPacket(ns, "udp4", "0.0.0.0:67")
		if err != nil {
			t.Fatal(err)
		}
		defer dhcp.Close()
		old := qemuPid(f)
		inNetns(t, ns, func() error { return p.SetPower(ctx, l, m.Name, power.ActionReset) })
		waitNewPid(t, f, old)
		l.Machines = []lab.Machine{m} // the relay's API names its machines
		links := &netem.Links{Lab: l, Attacher: p, Log: log}
		defer links.Close()
		if _, err := links.Set(ctx, m.Name, netem.Shape{Delay: 100 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		relayIDs := func() (ids []string) {
			var objs []struct{ Name string }
			if err := qmpQuery(f, `{"execute":"qom-list","arguments":{"path":"/objects"}}`, &objs); err != nil {
				t.Fatal(err)
			}
			var chardevs []struct{ Label string }
			if err := qmpQuery(f, `{"execute":"query-chardev"}`, &chardevs); err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				ids = append(ids, o.Name)
			}
			for _, c := range chardevs {
				ids = append(ids, "chardev "+c.Label)
			}
			return slices.DeleteFunc(ids, func(id string) bool { return !strings.Contains(id, "labctl-link") })
		}
		if ids := relayIDs(); len(ids) != 4 {
			t.Errorf("QEMU holds %v, want both redirectors and both chardevs", ids)
		}
		discovers := 0
		buf := make([]byte, 1500)
		for dhcp.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); ; { // sent before the relay was on
			if _, _, err := dhcp.ReadFrom(buf); err != nil {
				break
			}
		}
		for end := time.Now().Add(60 * time.Second); discovers == 0 && time.Now().Before(end); {
			dhcp.SetReadDeadline(time.Now().Add(time.Second))
			if n, _, err := dhcp.ReadFrom(buf); err == nil && n > 34 && bytes.Equal(buf[28:34], m.MAC) {
				discovers++
			}
		}
		st := links.List()
		if discovers == 0 || len(st) != 1 || st[0].Relayed == 0 {
			t.Fatalf("%d DHCP requests of %s reached the segment through the relay, which reports %+v; want some", discovers, m.MAC, st)
		}
		for i := range 2 { // clearing twice is no error
			if _, err := links.Clear(ctx, m.Name); err != nil {
				t.Fatalf("clear %d: %v", i, err)
			}
		}
		if ids := relayIDs(); len(ids) != 0 {
			t.Errorf("QEMU still holds %v after the relay was cleared", ids)
		}
		for _, sock := range []string{l.MachineFiles(m.Name).LinkOut, l.MachineFiles(m.Name).LinkIn} {
			if _, err := os.Stat(sock); !os.IsNotExist(err) {
				t.Errorf("%s left: %v", sock, err)
			}
		}
	})

	// The disk fails every request through QEMU's own block layer (QEMU's
	// qemu-io on the machine's drive, which prints to its stdio), then
	// reads again what it held before.
	t.Run("disk fails and is put back", func(t *testing.T) {
		qemuIO := func(cmd, want string) {
			t.Helper()
			before, _ := os.ReadFile(f.Stdio)
			hmp, _ := json.Marshal(map[string]any{"execute": "human-monitor-command", "arguments": map[string]string{"command-line": `qemu-io disk0 "` + cmd + `"`}})
			if err := qmpRun(f, string(hmp)); err != nil {
				t.Fatal(err)
			}
			var out []byte
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				out, _ = os.ReadFile(f.Stdio)
				if len(out) >= len(before) && strings.Contains(string(out[len(before):]), want) {
					return
				}
			}
			t.Fatalf("qemu-io %s: QEMU printed %q, want %q", cmd, out[len(before):], want)
		}
		qemuIO("write -P 0x55 0 4k", "wrote 4096/4096 bytes at offset 0")
		if err := p.SetDiskFailing(ctx, l, m.Name, true); err != nil {
			t.Fatal(err)
		}
		qemuIO("read 0 4k", "read failed: Input/output error")
		qemuIO("write 65536 4k", "write failed: Input/output error")
		for i := range 2 { // putting back is idempotent
			if err := p.SetDiskFailing(ctx, l, m.Name, false); err != nil {
				t.Fatalf("put back %d: %v", i, err)
			}
		}
		qemuIO("read -P 0x55 0 4k", "read 4096/4096 bytes at offset 0")
	})

	t.Run("destroy from disk by a new provider, twice", func(t *testing.T) {
		last := qemuPid(f)
		fresh := New(log) // as after a crash: nothing in memory
		for i := range 2 {
			inNetns(t, ns, func() error { return fresh.Destroy(ctx, l) })
			if proc.Alive(last) {
				t.Fatalf("destroy %d: qemu %d still runs", i, last)
			}
			out, _ := netns.Command(ctx, ns, "ip", "-o", "link").CombinedOutput()
			if strings.Contains(string(out), "labbr0") || strings.Contains(string(out), "tap") {
				t.Fatalf("destroy %d left links: %s", i, out)
			}
			if _, err := os.Stat(filepath.Join(l.Dir, "machines", m.Name)); err == nil {
				t.Fatalf("destroy %d left the machine directory", i)
			}
		}
	})
}

// recorded says whether the provider holds a QEMU process for the machine.
func (p *Provider) recorded(machine string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.procs[machine] != nil
}
