package virtual_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/testenv"
)

// freeipmi runs a FreeIPMI tool against port with credentials from a config
// file, so that the password is not on the command line.
func freeipmi(t *testing.T, port, pass, tool string, args ...string) (string, error) {
	t.Helper()
	testenv.Tool(t, tool, "freeipmi-tools")
	conf := filepath.Join(t.TempDir(), "freeipmi.conf")
	os.WriteFile(conf, []byte("username "+testCred.Username+"\npassword "+pass+"\n"), 0o600)
	full := append([]string{"--config-file", conf, "-h", "127.0.0.1:" + port, "-D", "LAN_2_0",
		"--session-timeout", "4000", "--retransmission-timeout", "500"}, args...)
	if os.Getenv("FREEIPMI_DEBUG") != "" {
		full = append(full, "--debug")
	}
	out, err := exec.Command(tool, full...).CombinedOutput()
	return string(out), err
}

func TestFreeIPMIDrivesMachine(t *testing.T) {
	m, sys, port := startIPMI(t)
	steps := []struct {
		name  string
		tool  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"stat off", "ipmi-power", []string{"--stat"}, func(t *testing.T, out string) {
			if !strings.Contains(out, "off") {
				t.Errorf("got %q", out)
			}
		}},
		{"on", "ipmi-power", []string{"--on"}, func(t *testing.T, _ string) {
			if st, _ := m.PowerState(context.Background()); st != power.On {
				t.Errorf("machine is %s", st)
			}
		}},
		{"set boot flags pxe efi", "ipmi-chassis-config", []string{"--commit", "-e", "Chassis_Boot_Flags:Boot_Device=PXE", "-e", "Chassis_Boot_Flags:BIOS_Boot_Type=EFI", "-e", "Chassis_Boot_Flags:Boot_Flags_Persistent=No"}, func(t *testing.T, _ string) {
			if d, once := m.NextBoot(); d != power.BootNetwork || !once {
				t.Errorf("next boot %s once=%v, want network once", d, once)
			}
			if o := sys.Override(); !o.UEFI {
				t.Errorf("override %+v, want UEFI", o)
			}
		}},
		{"cycle boots pxe", "ipmi-power", []string{"--cycle"}, func(t *testing.T, _ string) {
			if b := m.Boots(); len(b) != 2 || b[1] != power.BootNetwork {
				t.Errorf("boots %v, want [disk network]", b)
			}
		}},
		{"set boot flags disk persistent", "ipmi-chassis-config", []string{"--commit", "-e", "Chassis_Boot_Flags:Boot_Device=HARD-DRIVE", "-e", "Chassis_Boot_Flags:Boot_Flags_Persistent=Yes"}, func(t *testing.T, _ string) {
			if d, once := m.NextBoot(); d != power.BootDisk || once {
				t.Errorf("next boot %s once=%v, want disk persistent", d, once)
			}
		}},
		{"off", "ipmi-power", []string{"--off"}, func(t *testing.T, _ string) {
			if st, _ := m.PowerState(context.Background()); st != power.Off {
				t.Errorf("machine is %s", st)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, err := freeipmi(t, port, testCred.Password, s.tool, s.args...)
			if err != nil {
				t.Fatalf("%s %v: %v\n%s", s.tool, s.args, err, out)
			}
			t.Log(out)
			s.check(t, out)
		})
	}
	t.Run("wrong password refused", func(t *testing.T) {
		out, err := freeipmi(t, port, "wrong-password", "ipmi-power", "--on")
		if err == nil && !strings.Contains(strings.ToLower(out), "password") {
			t.Fatalf("ipmi-power with a wrong password: %s", out)
		}
		if st, _ := m.PowerState(context.Background()); st != power.Off {
			t.Errorf("machine powered %s by a refused session", st)
		}
	})
}

// What FreeIPMI's tools read from the BMC, and the power actions not
// covered above, each checked against the machine.
func TestFreeIPMIReadsBMC(t *testing.T) {
	m, _, port := startIPMI(t)
	boots := func(n int) func(t *testing.T, out string) {
		return func(t *testing.T, _ string) {
			if b := m.Boots(); len(b) != n {
				t.Errorf("boots %v, want %d", b, n)
			}
		}
	}
	steps := []struct {
		name  string
		tool  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"bmc-info", "bmc-info", nil, func(t *testing.T, out string) {
			mustContain(t, out, "IPMI Version          : 2.0", "Firmware Revision     : 1.00", "Chassis Device        : supported", "System GUID : "+testUUID)
		}},
		{"chassis status off", "ipmi-chassis", []string{"--get-chassis-status"}, func(t *testing.T, out string) {
			mustContain(t, out, "System Power                        : off")
		}},
		{"reset powers on", "ipmi-power", []string{"--reset"}, boots(1)},
		{"chassis status on", "ipmi-chassis", []string{"--get-chassis-status"}, func(t *testing.T, out string) {
			mustContain(t, out, "System Power                        : on")
		}},
		{"set boot flags pxe persistent", "ipmi-chassis-config", []string{"--commit", "-e", "Chassis_Boot_Flags:Boot_Device=PXE", "-e", "Chassis_Boot_Flags:Boot_Flags_Persistent=Yes"}, nil},
		{"get boot flags", "ipmi-chassis", []string{"--get-boot-flags"}, func(t *testing.T, out string) {
			mustContain(t, out, "Boot device selector          : Force PXE", "BIOS boot type                : PC compatible boot")
		}},
		{"cold reset of the BMC", "bmc-device", []string{"--cold-reset"}, boots(1)},
		{"cycle", "ipmi-power", []string{"--cycle"}, func(t *testing.T, _ string) {
			if b := m.Boots(); len(b) != 2 || b[1] != power.BootNetwork {
				t.Errorf("boots %v, want [disk network]", b)
			}
		}},
		{"soft", "ipmi-power", []string{"--soft"}, func(t *testing.T, _ string) {
			if st, _ := m.PowerState(context.Background()); st != power.Off {
				t.Errorf("machine is %s", st)
			}
		}},
		{"stat", "ipmi-power", []string{"--stat"}, func(t *testing.T, out string) { mustContain(t, out, "127.0.0.1: off") }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, err := freeipmi(t, port, testCred.Password, s.tool, s.args...)
			if err != nil {
				t.Fatalf("%s %v: %v\n%s", s.tool, s.args, err, out)
			}
			if s.check != nil {
				s.check(t, out)
			}
		})
	}
	t.Run("no SEL", func(t *testing.T) {
		out, err := freeipmi(t, port, testCred.Password, "bmc-device", "--get-sel-time")
		if err == nil || !strings.Contains(out, "command invalid or unsupported") {
			t.Errorf("bmc-device --get-sel-time: %v\n%s", err, out)
		}
	})
}
