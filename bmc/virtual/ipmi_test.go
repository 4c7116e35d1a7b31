package virtual_test

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/testenv"
)

var testCred = virtual.Credentials{Username: "admin", Password: "s3cret-Pw"}

// startIPMI serves a virtual IPMI BMC for a fresh in-memory machine on a
// loopback UDP port and returns the machine, the system and the port.
func startIPMI(t *testing.T) (*virtualtest.VM, *virtual.System, string) {
	t.Helper()
	return startIPMIFor(t, virtualtest.NewVM())
}

// startIPMIFor is startIPMI for a machine set up beforehand.
func startIPMIFor(t *testing.T, m *virtualtest.VM) (*virtualtest.VM, *virtual.System, string) {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sys, port := serveIPMIOn(t, m, conn)
	return m, sys, port
}

// serveIPMIOn serves a virtual IPMI BMC for m on conn until the test ends.
func serveIPMIOn(t *testing.T, m *virtualtest.VM, conn net.PacketConn) (*virtual.System, string) {
	t.Helper()
	sys := &virtual.System{Name: "node1", UUID: "8c1f6a3e-1b2d-4e5f-8a9b-0c1d2e3f4a5b", Machine: m}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- virtual.ServeIPMI(ctx, conn, sys, testCred) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeIPMI: %v", err)
		}
	})
	_, port, _ := net.SplitHostPort(conn.LocalAddr().String())
	return sys, port
}

func ipmitool(t *testing.T, port, user, pass string, extra []string, args ...string) (string, error) {
	t.Helper()
	testenv.Tool(t, "ipmitool", "ipmitool")
	full := append([]string{"-I", "lanplus", "-H", "127.0.0.1", "-p", port, "-U", user, "-E", "-N", "1", "-R", "2"}, extra...)
	full = append(full, args...)
	cmd := exec.Command("ipmitool", full...)
	cmd.Env = append(cmd.Environ(), "IPMI_PASSWORD="+pass)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestIPMIToolDrivesMachine(t *testing.T) {
	testenv.Tool(t, "ipmitool", "ipmitool") // before the subtests, which use this t
	m, sys, port := startIPMI(t)
	run := func(args ...string) string {
		t.Helper()
		out, err := ipmitool(t, port, testCred.Username, testCred.Password, nil, args...)
		if err != nil {
			t.Fatalf("ipmitool %v: %v\n%s", args, err, out)
		}
		return out
	}
	steps := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"status off", []string{"power", "status"}, func(t *testing.T, out string) {
			if !strings.Contains(out, "Power is off") {
				t.Errorf("got %q", out)
			}
		}},
		{"on", []string{"power", "on"}, func(t *testing.T, _ string) {
			if st, _ := m.PowerState(context.Background()); st != power.On {
				t.Errorf("machine is %s", st)
			}
		}},
		{"bootdev pxe efi once", []string{"chassis", "bootdev", "pxe", "options=efiboot"}, func(t *testing.T, _ string) {
			if d, once := m.NextBoot(); d != power.BootNetwork || !once {
				t.Errorf("next boot %s once=%v, want network once", d, once)
			}
			if o := sys.Override(); !o.UEFI || !o.Once || o.Device != power.BootNetwork {
				t.Errorf("override %+v", o)
			}
		}},
		{"bootparam get 5", []string{"chassis", "bootparam", "get", "5"}, func(t *testing.T, out string) {
			for _, want := range []string{"Force PXE", "BIOS EFI boot", "Options apply to only next boot"} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %q in\n%s", want, out)
				}
			}
		}},
		{"cycle boots pxe once", []string{"power", "cycle"}, func(t *testing.T, _ string) {
			b := m.Boots()
			if len(b) != 2 || b[1] != power.BootNetwork {
				t.Errorf("boots %v, want [disk network]", b)
			}
			if d, once := m.NextBoot(); d != power.BootDisk || once {
				t.Errorf("after the once boot, next boot is %s once=%v, want disk", d, once)
			}
		}},
		{"bootdev disk persistent", []string{"chassis", "bootdev", "disk", "options=persistent"}, func(t *testing.T, _ string) {
			if d, once := m.NextBoot(); d != power.BootDisk || once {
				t.Errorf("next boot %s once=%v, want disk persistent", d, once)
			}
		}},
		{"reset boots disk", []string{"power", "reset"}, func(t *testing.T, _ string) {
			if b := m.Boots(); b[len(b)-1] != power.BootDisk {
				t.Errorf("boots %v", b)
			}
		}},
		{"off", []string{"power", "off"}, func(t *testing.T, _ string) {
			if st, _ := m.PowerState(context.Background()); st != power.Off {
				t.Errorf("machine is %s", st)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { s.check(t, run(s.args...)) })
	}
}

func TestIPMIToolRefused(t *testing.T) {
	m, _, port := startIPMI(t)
	cases := []struct {
		name  string
		pass  string
		extra []string
	}{
		{"wrong password", "not-the-password", nil},
		{"cipher suite 0", testCred.Password, []string{"-C", "0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := ipmitool(t, port, testCred.Username, c.pass, c.extra, "power", "on")
			if err == nil {
				t.Fatalf("ipmitool succeeded:\n%s", out)
			}
			if st, _ := m.PowerState(context.Background()); st != power.Off {
				t.Errorf("machine was powered %s by a refused session", st)
			}
		})
	}
}
