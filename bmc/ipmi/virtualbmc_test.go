package ipmi_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/testenv"
)

// TestAgainstVirtualbmcProfile drives the client against the virtual BMC
// behaving as virtualbmc does (profile virtualbmc, checked against
// virtualbmc's own source by hand, docs/racks.md): the boot device it
// accepts is written for the next power-on and read back as the running
// boot's, and it has no power cycle. The client must report what the BMC
// said, succeed, and the machine must boot from the device asked for.
func TestAgainstVirtualbmcProfile(t *testing.T) {
	q, err := virtual.Profile("virtualbmc")
	if err != nil {
		t.Fatal(err)
	}
	m := virtualtest.NewVM()
	sys := &virtual.System{Name: "node1", UUID: "0b5f3a52-6c1e-4a47-9f0e-7d2c9b1a8e61", Machine: m, Quirks: q}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go virtual.ServeIPMI(ctx, conn, sys, virtual.Credentials{Username: "admin", Password: password})
	c := client(t, conn.LocalAddr().String(), password)
	var log testenv.Buffer
	c.Log = slog.New(slog.NewTextHandler(&log, nil))

	steps := []struct {
		name     string
		do       func() error
		warning  string           // in the log after the step; "": none
		next     power.BootDevice // the machine's next boot device; "": not checked
		lastBoot power.BootDevice // the device of its last boot; "": not checked
	}{
		{name: "on", do: func() error { return c.SetPower(ctx, power.ActionOn) }},
		// Powered on with no override: virtualbmc reads back none (libvirt's
		// running definition has per-device boot order, no <os><boot>).
		{name: "pxe once, running", do: func() error { return c.SetBootDevice(ctx, power.BootNetwork, power.BootOptions{}) },
			warning: "node1: BMC accepted boot device network but reads back No override", next: power.BootNetwork},
		// virtualbmc has no power cycle (pyghmi answers CCh): off, then on.
		{name: "cycle", do: func() error { return c.SetPower(ctx, power.ActionCycle) },
			warning: "node1: BMC refused the power cycle, powering off and on instead", lastBoot: power.BootNetwork},
		// Running from the network: read back is the running boot's device.
		{name: "disk, running", do: func() error { return c.SetBootDevice(ctx, power.BootDisk, power.BootOptions{Persistent: true}) },
			warning: "node1: BMC accepted boot device disk but reads back Force PXE while the machine runs: not verified", next: power.BootDisk},
		{name: "off", do: func() error { return c.SetPower(ctx, power.ActionOff) }},
		// Off: the BMC reads back the device set, so it is verified.
		{name: "pxe, off", do: func() error { return c.SetBootDevice(ctx, power.BootNetwork, power.BootOptions{}) }, next: power.BootNetwork},
		{name: "on again", do: func() error { return c.SetPower(ctx, power.ActionOn) }, lastBoot: power.BootNetwork},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := len(log.String())
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			logged := log.String()[before:]
			if s.warning == "" && strings.Contains(logged, "level=WARN") {
				t.Errorf("unexpected warning: %s", logged)
			}
			if s.warning != "" && !strings.Contains(logged, s.warning) {
				t.Errorf("log %q, want a warning %q", logged, s.warning)
			}
			if s.next != "" {
				// ipmi_once: ignored: virtualbmc sets the device persistently.
				if d, once := m.NextBoot(); d != s.next || once {
					t.Errorf("next boot %s once=%v, want %s persistent", d, once, s.next)
				}
			}
			if s.lastBoot != "" {
				if b := m.Boots(); len(b) == 0 || b[len(b)-1] != s.lastBoot {
					t.Errorf("boots %v, want the last from %s", b, s.lastBoot)
				}
			}
		})
	}
}
