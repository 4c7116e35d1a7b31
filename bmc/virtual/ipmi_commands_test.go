package virtual_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
)

// mustContain fails t for each of wants missing from out.
func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in\n%s", w, out)
		}
	}
}

// What a BMC says it is: IPMI 2.0, its firmware, a chassis device, and
// the machine's UUID as the system GUID.
func TestIPMIToolIdentity(t *testing.T) {
	_, _, port := startIPMI(t)
	cases := []struct {
		args  []string
		wants []string
	}{
		{[]string{"mc", "info"}, []string{"Device ID                 : 32", "Firmware Revision         : 1.00", "IPMI Version              : 2.0", "Chassis Device"}},
		{[]string{"mc", "guid"}, []string{"System GUID   : " + testUUID}},
		{[]string{"mc", "selftest"}, []string{"Selftest: passed"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := ipmitool(t, port, testCred.Username, testCred.Password, nil, tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			mustContain(t, out, tc.wants...)
		})
	}
}

// Power and boot commands as operators and Ironic send them, each checked
// against the machine and against what the BMC then reports.
func TestIPMIToolChassisCommands(t *testing.T) {
	m, sys, port := startIPMI(t)
	powerIs := func(want power.State) func(t *testing.T, out string) {
		return func(t *testing.T, _ string) {
			if st, _ := m.PowerState(context.Background()); st != want {
				t.Errorf("machine is %s, want %s", st, want)
			}
		}
	}
	steps := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"status off", []string{"chassis", "status"}, func(t *testing.T, out string) { mustContain(t, out, "System Power         : off") }},
		{"power on", []string{"chassis", "power", "on"}, powerIs(power.On)},
		{"status on", []string{"chassis", "status"}, func(t *testing.T, out string) { mustContain(t, out, "System Power         : on") }},
		{"power status", []string{"chassis", "power", "status"}, func(t *testing.T, out string) { mustContain(t, out, "Chassis Power is on") }},
		{"bootdev pxe persistent", []string{"chassis", "bootdev", "pxe", "options=persistent"}, func(t *testing.T, _ string) {
			if d, once := m.NextBoot(); d != power.BootNetwork || once {
				t.Errorf("next boot %s once=%v, want network persistent", d, once)
			}
		}},
		{"bootparam get 5 persistent", []string{"chassis", "bootparam", "get", "5"}, func(t *testing.T, out string) {
			mustContain(t, out, "Boot Flag Valid", "Options apply to all future boots", "Force PXE", "BIOS PC Compatible (legacy) boot")
		}},
		{"power cycle boots pxe", []string{"chassis", "power", "cycle"}, func(t *testing.T, _ string) {
			if b := m.Boots(); !slices.Equal(b, []power.BootDevice{power.BootDisk, power.BootNetwork}) {
				t.Errorf("boots %v", b)
			}
		}},
		{"power reset boots pxe again", []string{"chassis", "power", "reset"}, func(t *testing.T, _ string) {
			if b := m.Boots(); len(b) != 3 || b[2] != power.BootNetwork {
				t.Errorf("boots %v: a persistent device holds", b)
			}
		}},
		{"bootdev disk efiboot", []string{"chassis", "bootdev", "disk", "options=efiboot"}, func(t *testing.T, _ string) {
			if o := sys.Override(); o.Device != power.BootDisk || !o.Once || !o.UEFI {
				t.Errorf("override %+v, want disk once UEFI", o)
			}
		}},
		{"bootparam get 5 efi once", []string{"chassis", "bootparam", "get", "5"}, func(t *testing.T, out string) {
			mustContain(t, out, "Options apply to only next boot", "BIOS EFI boot", "Force Boot from default Hard-Drive")
		}},
		{"bootdev pxe efiboot persistent", []string{"chassis", "bootdev", "pxe", "options=efiboot,persistent"}, func(t *testing.T, _ string) {
			if o := sys.Override(); o.Device != power.BootNetwork || o.Once || !o.UEFI {
				t.Errorf("override %+v, want network persistent UEFI", o)
			}
		}},
		{"valid bit clearing (as Ironic sets it)", []string{"raw", "0x00", "0x08", "0x03", "0x08"}, func(*testing.T, string) {}},
		{"bootparam get 3", []string{"chassis", "bootparam", "get", "3"}, func(t *testing.T, out string) {
			mustContain(t, out, "Boot parameter data: 08")
		}},
		{"boot info acknowledge by BIOS", []string{"raw", "0x00", "0x08", "0x04", "0xff", "0x01"}, func(*testing.T, string) {}},
		{"bootparam get 4", []string{"chassis", "bootparam", "get", "4"}, func(t *testing.T, out string) {
			mustContain(t, out, "Boot parameter data: 0001", "BIOS/POST has handled boot info")
		}},
		{"power soft", []string{"chassis", "power", "soft"}, powerIs(power.Off)},
		{"power off", []string{"chassis", "power", "off"}, powerIs(power.Off)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, err := ipmitool(t, port, testCred.Username, testCred.Password, nil, s.args...)
			if err != nil {
				t.Fatalf("ipmitool %v: %v\n%s", s.args, err, out)
			}
			s.check(t, out)
		})
	}
}

// Resetting the BMC (mc reset) resets the BMC, not the machine it manages.
func TestIPMIToolResetBMCLeavesMachine(t *testing.T) {
	m, sys, port := startIPMI(t)
	if out, err := ipmitool(t, port, testCred.Username, testCred.Password, nil, "chassis", "power", "on"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sys.SetOverride(context.Background(), virtual.Override{Device: power.BootNetwork})
	for _, kind := range []string{"cold", "warm"} {
		t.Run(kind, func(t *testing.T) {
			out, err := ipmitool(t, port, testCred.Username, testCred.Password, nil, "mc", "reset", kind)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if st, _ := m.PowerState(context.Background()); st != power.On {
				t.Errorf("machine is %s", st)
			}
			if b := m.Boots(); len(b) != 1 {
				t.Errorf("boots %v: the machine was restarted", b)
			}
			if o := sys.Override(); o.Device != power.BootNetwork {
				t.Errorf("override %+v lost", o)
			}
		})
	}
}

// What this BMC lacks (SEL, SDR, FRU, OEM commands) is answered with
// Invalid Command (C1h) at once, and the session goes on.
func TestIPMIToolUnimplementedCommands(t *testing.T) {
	_, _, port := startIPMI(t)
	script := filepath.Join(t.TempDir(), "commands")
	os.WriteFile(script, []byte("sel info\nsdr list\nfru print 0\nraw 0x30 0x01\nchassis power status\n"), 0o644)
	out, err := ipmitool(t, port, testCred.Username, testCred.Password, nil, "exec", script)
	if err == nil {
		t.Errorf("ipmitool exited 0 for commands the BMC lacks:\n%s", out)
	}
	mustContain(t, out,
		"Get SEL Info command failed: Invalid command",
		"Error obtaining SDR info: Invalid command",
		"rsp=0xc1): Invalid command",
		"Chassis Power is off") // the same session still answers
}

// A machine slower to start than IPMI clients wait (a VM's cold start
// under load) is answered at once and started once, not once per
// retransmission; meanwhile the BMC still answers reads. The machine here
// does not finish its boot until the test lets it.
func TestIPMIToolSlowMachine(t *testing.T) {
	slow := virtualtest.NewVM()
	booting, release := make(chan power.BootDevice, 10), make(chan struct{})
	slow.OnBoot = func(d power.BootDevice) { booting <- d; <-release }
	defer close(release)
	slowConn, slowPort := countedIPMI(t, slow)
	fastConn, fastPort := countedIPMI(t, virtualtest.NewVM())
	// run returns how many datagrams the BMC read for the command.
	run := func(c *countingConn, port string, args ...string) int64 {
		t.Helper()
		before := c.read.Load()
		if out, err := ipmitool(t, port, testCred.Username, testCred.Password, nil, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return c.read.Load() - before
	}
	// Answered while the machine is still starting, with as many datagrams
	// as a machine that starts at once takes: ipmitool retransmits a
	// request it has no answer to within a second.
	slowCycle := run(slowConn, slowPort, "chassis", "power", "cycle")
	select {
	case <-booting:
	case <-time.After(10 * time.Second):
		t.Fatal("ipmitool's power cycle was answered, yet the machine did not start booting")
	}
	if fastCycle := run(fastConn, fastPort, "chassis", "power", "cycle"); slowCycle != fastCycle {
		t.Errorf("power cycle of the slow machine took %d datagrams, of one that boots at once %d: ipmitool retransmitted", slowCycle, fastCycle)
	}
	// Reads during the boot are answered as soon.
	if slowGet, fastGet := run(slowConn, slowPort, "chassis", "bootparam", "get", "5"), run(fastConn, fastPort, "chassis", "bootparam", "get", "5"); slowGet != fastGet {
		t.Errorf("bootparam get 5 during the boot took %d datagrams, on an idle BMC %d: ipmitool retransmitted", slowGet, fastGet)
	}
	// Once every datagram the BMC read has been answered, each request has
	// been acted on: a retransmitted cycle would have booted again.
	for deadline := time.Now().Add(10 * time.Second); slowConn.written.Load() < slowConn.read.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the BMC read %d datagrams and answered %d", slowConn.read.Load(), slowConn.written.Load())
		}
	}
	if b := slow.Boots(); len(b) != 1 {
		t.Errorf("boots %v, want one", b)
	}
	if st, _ := slow.PowerState(context.Background()); st != power.On {
		t.Errorf("machine is %s", st)
	}
}

// countedIPMI serves a virtual IPMI BMC for m on a loopback port through a
// countingConn.
func countedIPMI(t *testing.T, m *virtualtest.VM) (*countingConn, string) {
	t.Helper()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &countingConn{PacketConn: udp}
	_, port := serveIPMIOn(t, m, c)
	return c, port
}

// countingConn counts the datagrams a server reads and the replies it writes.
type countingConn struct {
	net.PacketConn
	read, written atomic.Int64
}

func (c *countingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		c.read.Add(1)
	}
	return n, addr, err
}

func (c *countingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(b, addr)
	c.written.Add(1)
	return n, err
}
