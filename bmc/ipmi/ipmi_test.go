package ipmi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/ipmi"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/testenv"
)

const password = "Ipmi-Test-Pw1"

func client(t *testing.T, addr, pass string) *bmc.Client {
	t.Setenv("TEST_BMC_PASSWORD", pass)
	return &bmc.Client{
		Server: bmc.Server{Name: "node1", Endpoints: []bmc.Endpoint{{
			Protocol: bmc.IPMI, Address: addr, Username: "admin",
			PasswordEnv: "TEST_BMC_PASSWORD", Timeout: 10 * time.Second,
		}}},
		Dialers:      map[bmc.Protocol]bmc.Dialer{bmc.IPMI: ipmi.Dial},
		PollInterval: 50 * time.Millisecond,
		Settle:       2 * time.Second,
	}
}

func TestAgainstVirtualBMC(t *testing.T) {
	m := virtualtest.NewVM()
	sys := &virtual.System{Name: "node1", UUID: "0b5f3a52-6c1e-4a47-9f0e-7d2c9b1a8e61", Machine: m}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go virtual.ServeIPMI(ctx, conn, sys, virtual.Credentials{Username: "admin", Password: password})
	addr := conn.LocalAddr().String()
	c := client(t, addr, password)

	steps := []struct {
		name  string
		do    func() error
		check func(t *testing.T)
	}{
		{"on", func() error { return c.SetPower(ctx, power.ActionOn) }, func(t *testing.T) {
			if st, _ := m.PowerState(ctx); st != power.On {
				t.Errorf("machine is %s", st)
			}
		}},
		{"pxe once uefi", func() error {
			return c.SetBootDevice(ctx, power.BootNetwork, power.BootOptions{Mode: power.BootModeUEFI})
		}, func(t *testing.T) {
			if d, once := m.NextBoot(); d != power.BootNetwork || !once {
				t.Errorf("next boot %s once=%v", d, once)
			}
			if !sys.Override().UEFI {
				t.Error("UEFI not set")
			}
		}},
		{"cycle", func() error { return c.SetPower(ctx, power.ActionCycle) }, func(t *testing.T) {
			if b := m.Boots(); len(b) != 2 || b[1] != power.BootNetwork {
				t.Errorf("boots %v", b)
			}
		}},
		{"disk persistent", func() error { return c.SetBootDevice(ctx, power.BootDisk, power.BootOptions{Persistent: true}) }, func(t *testing.T) {
			if d, once := m.NextBoot(); d != power.BootDisk || once {
				t.Errorf("next boot %s once=%v", d, once)
			}
		}},
		{"off", func() error { return c.SetPower(ctx, power.ActionOff) }, func(t *testing.T) {
			if st, _ := c.PowerState(ctx); st != power.Off {
				t.Errorf("client reads %s", st)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			s.check(t)
		})
	}

	t.Run("power without effect is an error", func(t *testing.T) {
		m.IgnorePower(true)
		defer m.IgnorePower(false)
		err := c.SetPower(ctx, power.ActionOn)
		if !errors.Is(err, bmc.ErrNoEffect) {
			t.Fatalf("got %v, want ErrNoEffect", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := client(t, addr, "wrong-password-123")
		_, err := bad.PowerState(ctx)
		if !errors.Is(err, bmc.ErrAuth) {
			t.Fatalf("got %v, want ErrAuth", err)
		}
		if !strings.Contains(err.Error(), "RAKP2 authentication code mismatch") {
			t.Errorf("got %v, want the RAKP2 authentication code mismatch", err)
		}
		// The BMC's RAKP message 2 carries an HMAC keyed by its password:
		// with another password the client cannot verify it.
		if !strings.Contains(err.Error(), "RAKP2 authentication code mismatch") {
			t.Errorf("got %v, want the RAKP2 authentication code mismatch", err)
		}
		if strings.Contains(err.Error(), "wrong-password-123") {
			t.Errorf("error shows the password: %v", err)
		}
	})
}

// startIPMISim runs OpenIPMI's ipmi_sim on a free loopback port. Its
// chassis_control script keeps power and boot device in files in dir, and
// ignores boot devices set while dir/ignore-boot exists.
func startIPMISim(t *testing.T) (addr, dir string) {
	t.Helper()
	testenv.Tool(t, "ipmi_sim", "openipmi")
	dir = t.TempDir()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = pc.LocalAddr().String()
	pc.Close()
	host, port, _ := net.SplitHostPort(addr)
	script := `#!/bin/sh
dir=$(dirname "$0")
shift; op=$1; shift
case $op in
get) for p in "$@"; do
       case $p in
       power) echo "power:$(cat $dir/power 2>/dev/null || echo 0)";;
       boot) echo "boot:$(cat $dir/boot 2>/dev/null || echo default)";;
       *) echo "Invalid parameter: $p"; exit 1;;
       esac
     done;;
set) while [ $# -gt 0 ]; do
       p=$1; v=$2; shift 2
       case $p in
       power) echo $v > $dir/power;;
       reset) echo 1 > $dir/power;;
       boot) [ -e $dir/ignore-boot ] || echo $v > $dir/boot;;
       identify) shift;;
       *) echo "Invalid parameter: $p"; exit 1;;
       esac
     done;;
*) exit 1;;
esac
`
	conf := fmt.Sprintf(`name "labctl-test"
set_working_mc 0x20
  startlan 1
    addr %s %s
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%s 0x20"
  user 2 true "admin" "%s" admin 10 none md2 md5 straight
`, host, port, filepath.Join(dir, "chassis.sh"), password)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"
	for name, content := range map[string]string{"chassis.sh": script, "lan.conf": conf, "sim.emu": emu} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("ipmi_sim", "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "sim.emu"),
		"-s", filepath.Join(dir, "state"), "-n")
	log, _ := os.Create(filepath.Join(dir, "sim.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
	// Wait until it answers an RMCP+ session.
	c := client(t, addr, password)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.PowerState(ctx)
		cancel()
		if err == nil {
			return addr, dir
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "sim.log"))
			t.Fatalf("ipmi_sim did not answer: %v\n%s", err, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestAgainstIPMISim(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ipmi_sim")
	}
	addr, dir := startIPMISim(t)
	ctx := context.Background()
	c := client(t, addr, password)
	file := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b))
	}
	steps := []struct {
		name string
		do   func() error
		want map[string]string // state file → content
	}{
		{"on", func() error { return c.SetPower(ctx, power.ActionOn) }, map[string]string{"power": "1"}},
		{"pxe once", func() error { return c.SetBootDevice(ctx, power.BootNetwork, power.BootOptions{}) }, map[string]string{"boot": "pxe"}},
		{"off", func() error { return c.SetPower(ctx, power.ActionOff) }, map[string]string{"power": "0"}},
		{"on again", func() error { return c.SetPower(ctx, power.ActionOn) }, map[string]string{"power": "1"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			for f, want := range s.want {
				if got := file(f); got != want {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
		})
	}
	t.Run("status", func(t *testing.T) {
		st, err := c.PowerState(ctx)
		if err != nil || st != power.On {
			t.Fatalf("PowerState = %s, %v", st, err)
		}
	})
	// A BMC that acknowledges a boot device and reads back another: with
	// the machine off nothing excuses it; running, the BMC may be showing
	// the running boot's device (virtualbmc does), so it is only reported.
	t.Run("boot device ignored", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "ignore-boot"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(dir, "ignore-boot"))
		var log testenv.Buffer
		c.Log = slog.New(slog.NewTextHandler(&log, nil))
		defer func() { c.Log = nil }()
		if err := c.SetBootDevice(ctx, power.BootDisk, power.BootOptions{Persistent: true}); err != nil {
			t.Fatalf("running: %v", err)
		}
		if want := "node1: BMC accepted boot device disk but reads back Force PXE while the machine runs: not verified"; !strings.Contains(log.String(), want) {
			t.Errorf("log %q, want %q", log.String(), want)
		}
		if err := c.SetPower(ctx, power.ActionOff); err != nil {
			t.Fatal(err)
		}
		err := c.SetBootDevice(ctx, power.BootDisk, power.BootOptions{Persistent: true})
		if !errors.Is(err, bmc.ErrNoEffect) || !strings.Contains(err.Error(), "boot device disk: BMC reports Force PXE with the machine off") {
			t.Fatalf("off: got %v, want ErrNoEffect naming Force PXE with the machine off", err)
		}
		if got := file("boot"); got != "pxe" {
			t.Errorf("boot = %q, want pxe (ignored)", got)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := client(t, addr, "not-the-sim-password")
		_, err := bad.PowerState(ctx)
		if !errors.Is(err, bmc.ErrAuth) {
			t.Fatalf("got %v, want ErrAuth", err)
		}
		if !strings.Contains(err.Error(), "RAKP2 authentication code mismatch") {
			t.Errorf("got %v, want the RAKP2 authentication code mismatch", err)
		}
		if strings.Contains(err.Error(), "not-the-sim-password") {
			t.Errorf("error shows the password: %v", err)
		}
	})
}
