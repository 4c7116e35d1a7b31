package libvirt

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	golibvirt "libvirt.org/go/libvirt"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/scenario"
)

// newTestLab creates a namespace of the test's own and the pxe-smoke lab in
// it. Cleanup destroys the lab (if the test did not) and deletes the namespace.
func newTestLab(t testing.TB) *lab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("runs libvirtd and QEMU guests")
	}
	testenv.Privileged(t, "namespaces, libvirtd, bridges")
	s, err := scenario.Find("pxe-smoke")
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("lt-libvirt-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	ctx := context.Background()
	if err := netns.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// A short directory: unix socket paths have a 107-byte limit.
	dir, err := os.MkdirTemp("", "lv")
	if err != nil {
		t.Fatal(err)
	}
	l := s.Lab(dir, ns)
	t.Cleanup(func() {
		if err := New(testLogger(t)).Destroy(ctx, l); err != nil {
			t.Error(err)
		}
		if err := netns.Delete(ctx, ns); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("lab directory kept for inspection: %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	})
	return l
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// dhcpWatch records the client MAC of every DHCP request that reaches the
// lab bridge, from a UDP socket on port 67 inside the lab's namespace.
type dhcpWatch struct {
	mu   sync.Mutex
	seen map[string]int
}

func watchDHCP(t *testing.T, ns string) *dhcpWatch {
	pc, err := netns.ListenPacket(ns, "udp4", "0.0.0.0:67")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	w := &dhcpWatch{seen: map[string]int{}}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			// BOOTREQUEST with the DHCP magic cookie; chaddr at offset 28.
			if n >= 240 && buf[0] == 1 && bytes.Equal(buf[236:240], []byte{99, 130, 83, 99}) {
				w.mu.Lock()
				w.seen[net.HardwareAddr(buf[28:34]).String()]++
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *dhcpWatch) count(mac net.HardwareAddr) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[mac.String()]
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s\n%s", timeout, what, detail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func serial(l *lab.Lab, name string) string {
	b, _ := os.ReadFile(l.MachineFiles(name).SerialLog)
	return string(b)
}

// firmwareMarkers are what each firmware prints on the serial console on
// its way to sending DHCP from the NIC's iPXE ROM.
var firmwareMarkers = map[lab.Firmware][]string{
	lab.BIOS: {"SeaBIOS (version", "iPXE (PCI", "iPXE initialising devices...ok", "Configuring (net0 52:54:00:77:00:11)"},
	// OVMF clears the screen and starts the EFI build of iPXE (its feature
	// list names EFI, the BIOS build's names PXE).
	lab.UEFI: {"Features: DNS HTTP iSCSI NFS TFTP AoE EFI", "Configuring (net0 52:54:00:77:00:12)"},
}

func hasAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestProvider runs the pxe-smoke lab's two machines (one BIOS, one UEFI)
// under a private libvirtd in a namespace of the test's own: both must reach
// their NIC's iPXE and send DHCP on the bridge (no DHCP server answers: that
// is expected here). Then power and boot-device changes, a crash of
// libvirtd, and Destroy, which must leave nothing behind.
func TestProvider(t *testing.T) {
	l := newTestLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	_, sysRunErr := os.Stat("/run/libvirt")
	p := New(testLogger(t))
	bios, uefi := l.Machines[0], l.Machines[1]
	if bios.Firmware != lab.BIOS || uefi.Firmware != lab.UEFI {
		t.Fatalf("pxe-smoke machines are %s and %s, want bios and uefi", bios.Firmware, uefi.Firmware)
	}

	if err := p.CreateNetwork(ctx, l); err != nil {
		t.Fatal(err)
	}
	daemonPid := p.Daemon(l).Pid()
	if daemonPid == 0 {
		t.Fatal("no libvirtd running after CreateNetwork")
	}
	if !inNetns(t, l.Netns, daemonPid) {
		t.Fatalf("libvirtd %d is not in namespace %s", daemonPid, l.Netns)
	}
	out, err := netns.Command(ctx, l.Netns, "ip", "-4", "-o", "addr", "show", "dev", l.Network.Name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), l.Network.Gateway.String()+"/24") {
		t.Fatalf("bridge %s in %s: %v %s", l.Network.Name, l.Netns, err, out)
	}
	if err := exec.Command("ip", "link", "show", l.Network.Name).Run(); err == nil {
		t.Fatalf("bridge %s appeared in the root namespace", l.Network.Name)
	}
	// CreateNetwork again is a no-op on a running lab.
	if err := p.CreateNetwork(ctx, l); err != nil {
		t.Fatal(err)
	}

	dhcp := watchDHCP(t, l.Netns)
	if err := p.CreateMachines(ctx, l, l.Machines); err != nil {
		t.Fatal(err)
	}
	for _, m := range l.Machines {
		waitFor(t, m.Name+" to reach iPXE and send DHCP", 3*time.Minute, func() bool {
			return hasAll(serial(l, m.Name), firmwareMarkers[m.Firmware]) && dhcp.count(m.MAC) > 0
		}, func() string {
			return fmt.Sprintf("DHCP requests from %s: %d\nserial log:\n%s", m.MAC, dhcp.count(m.MAC), serial(l, m.Name))
		})
		if st, err := p.PowerState(ctx, l, m.Name); err != nil || st != power.On {
			t.Fatalf("%s power %s %v, want on", m.Name, st, err)
		}
	}
	t.Logf("domain type (accelerator): %s", p.Accel)
	if got := labQEMUs(t, l); len(got) != 2 {
		t.Fatalf("%d QEMU processes for the lab, want 2", len(got))
	}
	if !t.Run("console", func(t *testing.T) { testConsole(t, ctx, p, l, bios) }) {
		return
	}
	if !t.Run("resets in a row", func(t *testing.T) { testResetsInARow(t, ctx, p, l, uefi, bios) }) {
		return
	}
	// The UEFI machine has proven what it must; only two guests run at a time
	// and the power tests need only one.
	if err := p.SetPower(ctx, l, uefi.Name, power.ActionOff); err != nil {
		t.Fatal(err)
	}
	if !t.Run("power", func(t *testing.T) { testPower(t, ctx, p, l, bios) }) {
		return
	}
	if !t.Run("boot device", func(t *testing.T) { testBootDevice(t, ctx, p, l, bios) }) {
		return
	}
	if !t.Run("reset is a cold start", func(t *testing.T) { testResetColdStart(t, ctx, p, l, bios) }) {
		return
	}
	if !t.Run("faults", func(t *testing.T) { testFaults(t, ctx, p, l, bios, dhcp) }) {
		return
	}
	if !t.Run("QEMU dies unasked", func(t *testing.T) { testQEMUDies(t, ctx, p, l, bios) }) {
		return
	}

	// A crash: libvirtd dies with a guest running. A provider that knows
	// nothing but l.Dir and l.Netns must still clean up.
	qemus := labQEMUs(t, l)
	if len(qemus) == 0 {
		t.Fatal("no QEMU running before the crash")
	}
	if err := syscall.Kill(daemonPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "libvirtd to die", 10*time.Second, func() bool { return p.Daemon(l).Pid() == 0 }, func() string { return "" })
	start := time.Now()
	if err := New(testLogger(t)).Destroy(ctx, l); err != nil {
		t.Fatal(err)
	}
	t.Logf("Destroy after a libvirtd crash took %s", time.Since(start).Round(time.Millisecond))
	if err := New(testLogger(t)).Destroy(ctx, l); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}

	// Nothing left behind.
	for _, pid := range append(qemus, daemonPid) {
		if proc.Alive(pid) {
			t.Errorf("process %d still runs after Destroy", pid)
		}
	}
	if pid := p.Daemon(l).Pid(); pid != 0 {
		t.Errorf("libvirtd %d runs after Destroy", pid)
	}
	if got := labQEMUs(t, l); len(got) != 0 {
		t.Errorf("QEMU processes after Destroy: %v", got)
	}
	if pids, err := netns.Pids(ctx, l.Netns); err != nil || len(pids) != 0 {
		t.Errorf("processes left in namespace %s: %v %v", l.Netns, pids, err)
	}
	if err := netns.Command(ctx, l.Netns, "ip", "link", "show", l.Network.Name).Run(); err == nil {
		t.Errorf("bridge %s still exists", l.Network.Name)
	}
	for _, f := range []string{"libvirt/run", "libvirt/lib", "libvirt/etc", "libvirt/libvirt-sock", "machines/bios1/disk.qcow2", "machines/uefi1/OVMF_VARS.fd"} {
		if _, err := os.Stat(filepath.Join(l.Dir, f)); err == nil {
			t.Errorf("%s left in the lab directory", f)
		}
	}
	if _, err := os.Stat(filepath.Join(l.Dir, "machines/bios1/serial.log")); err != nil {
		t.Errorf("serial log removed: %v", err)
	}
	if _, err := os.Stat("/run/libvirt"); (err == nil) != (sysRunErr == nil) {
		t.Errorf("the system's /run/libvirt changed: before %v, after %v", sysRunErr, err)
	}
}

// TestCreateMachinesRollback: when one of the machines made at once fails
// to start, CreateMachines names it and removes what it made (the other
// machine's domain and disk), and only that: a machine made before stays.
func TestCreateMachinesRollback(t *testing.T) {
	l := newTestLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := New(testLogger(t))
	if err := p.CreateNetwork(ctx, l); err != nil {
		t.Fatal(err)
	}
	keep, good, bad := l.Machines[0], l.Machines[1], l.Machines[0]
	bad.Name, bad.MAC, bad.UUID = "bad", slices.Clone(bad.MAC), bad.UUID[:34]+"99"
	bad.MAC[5] = 0x99
	if err := p.CreateMachine(ctx, l, keep); err != nil {
		t.Fatal(err)
	}
	// QEMU cannot open bad's serial log: libvirt defines it, starting fails.
	if err := os.MkdirAll(l.MachineFiles(bad.Name).SerialLog, 0o755); err != nil {
		t.Fatal(err)
	}
	err := p.CreateMachines(ctx, l, []lab.Machine{good, bad})
	if err == nil || !strings.Contains(err.Error(), "start domain bad: ") || strings.Contains(err.Error(), "domain "+good.Name) {
		t.Fatalf("CreateMachines = %v, want the failure to start bad alone", err)
	}
	var domains []string
	if err := p.with(l, func(c *golibvirt.Connect) error {
		doms, err := c.ListAllDomains(0)
		for i := range doms {
			name, _ := doms[i].GetName()
			domains = append(domains, name)
			doms[i].Free()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(domains, []string{keep.Name}) {
		t.Errorf("domains after the failure: %v, want only %s", domains, keep.Name)
	}
	if st, err := p.PowerState(ctx, l, keep.Name); err != nil || st != power.On {
		t.Errorf("%s: power %s %v, want on", keep.Name, st, err)
	}
	for _, m := range []string{good.Name, bad.Name} {
		f := l.MachineFiles(m)
		for _, file := range []string{f.Disk, f.NVRAM} {
			if _, err := os.Stat(file); err == nil {
				t.Errorf("%s left after the rollback", file)
			}
		}
	}
	if _, err := os.Stat(l.MachineFiles(keep.Name).Disk); err != nil {
		t.Errorf("%s's disk: %v", keep.Name, err)
	}
}

// testConsole reads the machine's console socket: after a cold start the
// firmware's output arrives there as well as in the log.
func testConsole(t *testing.T, ctx context.Context, p *Provider, l *lab.Lab, m lab.Machine) {
	if err := p.SetPower(ctx, l, m.Name, power.ActionOff); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPower(ctx, l, m.Name, power.ActionOn); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", l.MachineFiles(m.Name).Console)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("iPXE")) {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("console of %s: %v after %q", m.Name, err, got)
		}
		got = append(got, buf[:n]...)
	}
}

func testPower(t *testing.T, ctx context.Context, p *Provider, l *lab.Lab, m lab.Machine) {
	for _, tc := range []struct {
		action power.Action
		want   power.State
	}{
		{power.ActionOff, power.Off},
		{power.ActionOff, power.Off}, // off when off is not an error
		{power.ActionOn, power.On},
		{power.ActionCycle, power.On},
		{power.ActionReset, power.On},
	} {
		t.Run(string(tc.action), func(t *testing.T) {
			pid := qemuPid(t, l, m.Name)
			if err := p.SetPower(ctx, l, m.Name, tc.action); err != nil {
				t.Fatal(err)
			}
			st, err := p.PowerState(ctx, l, m.Name)
			if err != nil || st != tc.want {
				t.Fatalf("power %s %v, want %s", st, err, tc.want)
			}
			after := qemuPid(t, l, m.Name)
			switch {
			case tc.want == power.Off && after != 0:
				t.Fatalf("QEMU %d still runs", after)
			case tc.want == power.On && after == 0:
				t.Fatal("no QEMU runs")
			case (tc.action == power.ActionCycle || tc.action == power.ActionReset) && after == pid:
				t.Fatalf("%s kept QEMU %d: not a cold start", tc.action, pid)
			}
		})
	}
	if err := p.SetPower(ctx, l, m.Name, "hibernate"); err == nil {
		t.Error("unknown action accepted")
	}
	if _, err := p.PowerState(ctx, l, "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown machine: %v", err)
	}
}

// waitFirstBoot waits for SeaBIOS's first boot attempt in the machine's
// serial log ("Booting from Hard Disk...", "Booting from ROM...") and
// checks that it is from want.
func waitFirstBoot(t *testing.T, l *lab.Lab, name, want string) {
	t.Helper()
	first := func() string {
		s := serial(l, name)
		i := strings.Index(s, "Booting from ")
		if i < 0 {
			return ""
		}
		rest := s[i+len("Booting from "):]
		if j := strings.Index(rest, "..."); j >= 0 {
			return rest[:j]
		}
		return ""
	}
	waitFor(t, name+" to boot from "+want, 2*time.Minute, func() bool { return first() != "" },
		func() string { return serial(l, name) })
	if got := first(); got != want {
		t.Fatalf("first boot attempt from %q, want %q\n%s", got, want, serial(l, name))
	}
}

// testBootDevice checks once and persistent boot devices through what
// SeaBIOS prints: "Booting from Hard Disk..." (the blank disk fails) or
// "Booting from ROM..." (the NIC's iPXE) first.
func testBootDevice(t *testing.T, ctx context.Context, p *Provider, l *lab.Lab, m lab.Machine) {
	cycle := func(want string) {
		t.Helper()
		if err := p.SetPower(ctx, l, m.Name, power.ActionCycle); err != nil {
			t.Fatal(err)
		}
		waitFirstBoot(t, l, m.Name, want)
	}
	persistentFirst := func() power.BootDevice {
		t.Helper()
		var x []power.BootDevice
		err := p.withDomain(l, m.Name, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
			def, err := persistentXML(d)
			if err == nil {
				x = bootOrder(t, def)
			}
			return err
		})
		if err != nil || len(x) == 0 {
			t.Fatalf("persistent boot order %v: %v", x, err)
		}
		return x[0]
	}

	t.Run("once", func(t *testing.T) {
		if err := p.SetBootDevice(ctx, l, m.Name, power.BootDisk, power.BootOptions{}); err != nil {
			t.Fatal(err)
		}
		cycle("Hard Disk")
		if got := persistentFirst(); got != power.BootNetwork {
			t.Fatalf("after the once boot the definition boots %s first, want network", got)
		}
		cycle("ROM")
	})
	t.Run("persistent", func(t *testing.T) {
		if err := p.SetBootDevice(ctx, l, m.Name, power.BootDisk, power.BootOptions{Persistent: true}); err != nil {
			t.Fatal(err)
		}
		cycle("Hard Disk")
		cycle("Hard Disk")
		if err := p.SetBootDevice(ctx, l, m.Name, power.BootNetwork, power.BootOptions{Persistent: true}); err != nil {
			t.Fatal(err)
		}
		cycle("ROM")
	})
	if err := p.SetBootDevice(ctx, l, m.Name, "cdrom", power.BootOptions{}); err == nil {
		t.Error("boot device cdrom accepted")
	}
}

// testResetColdStart resets the machine as its guest's reboot does (a QMP
// system_reset, through libvirt) and checks that the lab's watch started it
// again as a new QEMU process: with a pending one-time device first, then
// in its persistent order.
func testResetColdStart(t *testing.T, ctx context.Context, p *Provider, l *lab.Lab, m lab.Machine) {
	reset := func(want string) {
		t.Helper()
		before := qemuPid(t, l, m.Name)
		if before == 0 {
			t.Fatal("no QEMU runs before the reset")
		}
		err := p.withDomain(l, m.Name, func(_ *golibvirt.Connect, d *golibvirt.Domain) error { return d.Reset(0) })
		if err != nil {
			t.Fatal(err)
		}
		waitRestarted(t, p, l, m.Name, before, "")
		waitFirstBoot(t, l, m.Name, want)
		if st, err := p.PowerState(ctx, l, m.Name); err != nil || st != power.On {
			t.Fatalf("power %s %v after the reset, want on", st, err)
		}
		if fault, err := p.MachineFault(ctx, l, m.Name); err != nil || fault != "" {
			t.Fatalf("fault %q %v after the reset, want none", fault, err)
		}
	}
	if err := p.SetBootDevice(ctx, l, m.Name, power.BootDisk, power.BootOptions{}); err != nil {
		t.Fatal(err)
	}
	reset("Hard Disk")
	reset("ROM")
}

// testResetsInARow resets two machines again and again, a second apart,
// as guests that reboot together do: every cold start must last. libvirt
// 9.0 handled an ended QEMU's queued monitor EOF for the QEMU started next
// and killed that one as "crashed" (seen in about one restart in five
// here; see renew).
func testResetsInARow(t *testing.T, ctx context.Context, p *Provider, l *lab.Lab, machines ...lab.Machine) {
	for _, m := range machines {
		if err := p.SetPower(ctx, l, m.Name, power.ActionOn); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		before := map[string]int{}
		for _, m := range machines {
			before[m.Name] = qemuPid(t, l, m.Name)
			err := p.withDomain(l, m.Name, func(_ *golibvirt.Connect, d *golibvirt.Domain) error { return d.Reset(0) })
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
		}
		for _, m := range machines {
			waitRestarted(t, p, l, m.Name, before[m.Name], fmt.Sprintf("reset %d: ", i+1))
		}
	}
	time.Sleep(3 * time.Second) // what libvirt still had queued is handled by now
	for _, m := range machines {
		if fault, err := p.MachineFault(ctx, l, m.Name); err != nil || fault != "" {
			t.Errorf("%s after 6 resets in a row: fault %q %v", m.Name, fault, err)
		}
		if st, err := p.PowerState(ctx, l, m.Name); err != nil || st != power.On {
			t.Errorf("%s after 6 resets in a row: power %s %v, want on", m.Name, st, err)
		}
	}
}

// waitRestarted waits until the machine's restart after a reset is over:
// a QEMU other than before runs, and the restart, which holds the
// machine's lock until its start is done (a QEMU that died starting is
// started once more), has let go of it.
func waitRestarted(t *testing.T, p *Provider, l *lab.Lab, name string, before int, what string) {
	t.Helper()
	waitFor(t, what+"a new QEMU for "+name, time.Minute, func() bool {
		pid := qemuPid(t, l, name)
		return pid != 0 && pid != before
	}, func() string { return fmt.Sprintf("QEMU %d before the reset, %d now", before, qemuPid(t, l, name)) })
	p.lockMachine(l, name)()
}

// testQEMUDies kills the machine's QEMU as a crash would: MachineFault
// reports it with how libvirt logged its end, and a start clears it.
func testQEMUDies(t *testing.T, ctx context.Context, p *Provider, l *lab.Lab, m lab.Machine) {
	pid := qemuPid(t, l, m.Name)
	if pid == 0 {
		t.Fatal("no QEMU runs")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var fault string
	waitFor(t, "libvirt to notice the crash", 10*time.Second, func() bool {
		fault, _ = p.MachineFault(ctx, l, m.Name)
		return fault != ""
	}, func() string { return "no fault reported" })
	if !strings.Contains(fault, "libvirt domain crashed") || !strings.Contains(fault, "shutting down, reason=crashed") {
		t.Fatalf("fault after kill -9 does not say how QEMU ended:\n%s", fault)
	}
	t.Logf("fault: %s", fault)
	if err := p.SetPower(ctx, l, m.Name, power.ActionOn); err != nil {
		t.Fatal(err)
	}
	if fault, err := p.MachineFault(ctx, l, m.Name); err != nil || fault != "" {
		t.Fatalf("fault %q %v after a new start, want none", fault, err)
	}
}

// qemuPid is the pid of the machine's QEMU process, 0 if none runs.
func qemuPid(t *testing.T, l *lab.Lab, name string) int {
	for _, pid := range labQEMUs(t, l) {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.Contains(cmd, []byte("guest="+name+",")) {
			return pid
		}
	}
	return 0
}

// labQEMUs scans /proc (not libvirt's pid files) for QEMU processes
// whose command line names the lab's directory.
func labQEMUs(t *testing.T, l *lab.Lab) []int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, f := range procs {
		cmd, err := os.ReadFile(f)
		if err != nil || !bytes.HasPrefix(cmd, []byte("/usr/bin/qemu-system")) || !bytes.Contains(cmd, []byte(l.Dir+"/")) {
			continue
		}
		var pid int
		fmt.Sscanf(filepath.Base(filepath.Dir(f)), "%d", &pid)
		if proc.Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func inNetns(t *testing.T, ns string, pid int) bool {
	pids, err := netns.Pids(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}
