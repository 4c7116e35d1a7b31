package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/internal/power"
)

// testReprovisionThroughBootPathFaults reprovisions bios1 through its BMC
// (IPMI) while the lab's DHCP and boot service are both down: its firmware
// gives up and retries (SeaBIOS's reboot-timeout) rather than stop; once
// DHCP is healed it gets its lease and is refused by the boot service, and
// retries again; once that is healed it boots, reports, and reprovision's
// checks pass. The machine is off when it starts (the smoke image powers
// itself off).
func (b *bmcLab) testReprovisionThroughBootPathFaults(ctx context.Context) func(t *testing.T) {
	return func(t *testing.T) {
		m, _ := b.machine(t, "bios1")
		serial := b.st.Lab.MachineFiles(m.Name).SerialLog
		for _, kind := range []string{"dhcp-down", "boot-service-down"} {
			out, err := b.e.run(ctx, "fault", "pxe-smoke", "inject", kind)
			if err != nil || !strings.Contains(out, "fault "+kind+": "+kind+" took effect") {
				t.Fatalf("fault inject %s: %v: %s", kind, err, out)
			}
		}
		since, off := time.Now(), fileSize(serial)
		var repro bytes.Buffer
		cmd := b.e.command(ctx, "reprovision", "pxe-smoke", m.Name, "--protocol", "ipmi", "--timeout", "4m")
		cmd.Stdout, cmd.Stderr = &repro, &repro
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		defer func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				<-done
			}
			t.Logf("labctl reprovision:\n%s", repro.String())
		}()

		// retried waits for a failed boot after off and the firmware's
		// start after it: the machine retries, it did not stop.
		retried := func(what string, off int64) {
			t.Helper()
			deadline := time.Now().Add(2 * time.Minute)
			for {
				text := serialFrom(t, serial, off)
				i := strings.Index(text, "No bootable device.  Retrying in")
				if i >= 0 && strings.Contains(text[i:], "SeaBIOS (version") {
					return
				}
				select {
				case err := <-done:
					t.Fatalf("%s: reprovision ended before bios1 retried: %v", what, err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: bios1 did not give up and start again within 2m:\n%s", what, text)
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
		heal := func(kind string) {
			t.Helper()
			if out, err := b.e.run(ctx, "fault", "pxe-smoke", "heal", kind); err != nil || !strings.Contains(out, "fault "+kind+" healed") {
				t.Fatalf("fault heal %s: %v: %s", kind, err, out)
			}
		}

		retried("under dhcp-down", off)
		if text := serialFrom(t, serial, off); strings.Contains(text, b.st.Lab.BootURL()) {
			t.Errorf("under dhcp-down, bios1's iPXE was given the boot URL:\n%s", text)
		}
		heal("dhcp-down")
		off = fileSize(serial)
		retried("under boot-service-down", off)
		if text := serialFrom(t, serial, off); !strings.Contains(text, b.st.Lab.BootURL()) {
			t.Errorf("with DHCP back, bios1's iPXE did not try the boot service:\n%s", text)
		}
		if ev := b.events(t, m, bootlog.KindIPXE, since); len(ev) != 0 {
			t.Errorf("the boot service served bios1 while down: %v", ev)
		}
		heal("boot-service-down")
		healed := time.Now()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("labctl reprovision after healing: %v", err)
			}
		case <-time.After(4 * time.Minute):
			t.Fatal("reprovision did not end within 4m of healing")
		}
		if !strings.Contains(repro.String(), "all 2 checks passed") {
			t.Errorf("reprovision's output lacks the scenario's checks")
		}
		rep := b.events(t, m, bootlog.KindReport, healed)
		if len(rep) == 0 {
			t.Fatalf("bios1: no booted report after healing")
		}
		t.Logf("recovery: bios1 reported %.1fs after the boot service was healed (faults injected %.1fs before)",
			rep[0].Time.Sub(healed).Seconds(), healed.Sub(since).Seconds())
		if s, err := b.e.status(ctx); err != nil || len(s.Faults) != 0 {
			t.Errorf("status after healing lists faults %+v (%v); want none", s.Faults, err)
		}
		b.waitPower(t, m.Name, power.Off, time.Minute)
	}
}
