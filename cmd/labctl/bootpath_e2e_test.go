package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab/progress"
)

// testReprovisionThroughBootPathFaults reprovisions both machines through
// their BMCs (bios1 over IPMI, uefi1 over Redfish) while the lab's DHCP and
// boot service are both down: their firmware gives up and starts again
// rather than stop (SeaBIOS by its reboot-timeout; OVMF, left at its UEFI
// shell, reset by the lab process as a server set to retry its boot is).
// Once DHCP is healed bios1 gets its lease and is refused by the boot
// service, and retries again; once that is healed both boot, report, and
// reprovision's checks pass. The machines are off when it starts (the smoke
// image powers itself off).
func (b *bmcLab) testReprovisionThroughBootPathFaults(ctx context.Context) func(t *testing.T) {
	return func(t *testing.T) {
		for _, kind := range []string{"dhcp-down", "boot-service-down"} {
			out, err := b.e.run(ctx, "fault", "pxe-smoke", "inject", kind)
			if err != nil || !strings.Contains(out, "fault "+kind+": "+kind+" took effect") {
				t.Fatalf("fault inject %s: %v: %s", kind, err, out)
			}
		}
		type run struct {
			cmd  *exec.Cmd
			out  bytes.Buffer
			done chan error
		}
		since := time.Now()
		serial, off, runs := map[string]string{}, map[string]int64{}, map[string]*run{}
		for _, r := range []struct{ machine, protocol string }{{"bios1", "ipmi"}, {"uefi1", "redfish"}} {
			serial[r.machine] = b.st.Lab.MachineFiles(r.machine).SerialLog
			off[r.machine] = fileSize(serial[r.machine])
			p := &run{cmd: b.e.command(ctx, "reprovision", "pxe-smoke", r.machine, "--protocol", r.protocol, "--timeout", "5m"), done: make(chan error, 1)}
			p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
			if err := p.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { p.done <- p.cmd.Wait() }()
			runs[r.machine] = p
			defer func() {
				if p.cmd.ProcessState == nil {
					p.cmd.Process.Kill()
					<-p.done
				}
				t.Logf("labctl reprovision %s:\n%s", r.machine, p.out.String())
			}()
		}

		// await waits until machine's serial log shows marks in order after
		// its byte off, and returns where the last begins.
		await := func(machine, what string, off int64, within time.Duration, marks ...string) int64 {
			t.Helper()
			deadline := time.Now().Add(within)
			for {
				text := serialFrom(t, serial[machine], off)
				at := 0
				for i, m := range marks {
					j := strings.Index(text[at:], m)
					if j < 0 {
						break
					}
					if at += j; i == len(marks)-1 {
						return off + int64(at)
					}
					at += len(m)
				}
				select {
				case err := <-runs[machine].done:
					t.Fatalf("%s: reprovision ended before %s printed %q: %v", what, machine, marks, err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s did not print %q within %s:\n%s", what, machine, marks, within, text)
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
		const seaBIOS, seaBIOSGaveUp = "SeaBIOS (version", "No bootable device.  Retrying in"
		heal := func(kind string) {
			t.Helper()
			if out, err := b.e.run(ctx, "fault", "pxe-smoke", "heal", kind); err != nil || !strings.Contains(out, "fault "+kind+" healed") {
				t.Fatalf("fault heal %s: %v: %s", kind, err, out)
			}
		}

		// Each gives up and starts again: it retries, it did not stop.
		await("bios1", "under dhcp-down", off["bios1"], 2*time.Minute, seaBIOSGaveUp, seaBIOS)
		// OVMF reaches its shell in about 30 s here (docs/benchmarks.md).
		await("uefi1", "under dhcp-down", off["uefi1"], 3*time.Minute, firmware.OVMFShellPrompt, progress.IPXEStarted)
		if raw, _ := os.ReadFile(b.st.Lab.ProcessLog()); !bytes.Contains(raw, []byte(`starting it again" machine=uefi1`)) {
			t.Errorf("the lab process's log does not say it started uefi1 again")
		}
		for m, text := range map[string]string{"bios1": serialFrom(t, serial["bios1"], off["bios1"]), "uefi1": serialFrom(t, serial["uefi1"], off["uefi1"])} {
			if strings.Contains(text, b.st.Lab.BootURL()) {
				t.Errorf("under dhcp-down, %s's iPXE was given the boot URL:\n%s", m, text)
			}
		}
		heal("dhcp-down")
		// From bios1's first attempt that started after the heal (the one
		// in flight may still have asked DHCP before it).
		from := await("bios1", "after dhcp-down healed", fileSize(serial["bios1"]), time.Minute, seaBIOS)
		to := await("bios1", "under boot-service-down", from, 2*time.Minute, seaBIOSGaveUp, seaBIOS)
		if text := serialFrom(t, serial["bios1"], from)[:to-from]; !strings.Contains(text, b.st.Lab.BootURL()) {
			t.Errorf("with DHCP back, bios1's iPXE did not try the boot service:\n%s", text)
		}
		for _, name := range []string{"bios1", "uefi1"} {
			m, _ := b.machine(t, name)
			if ev := b.events(t, m, bootlog.KindIPXE, since); len(ev) != 0 {
				t.Errorf("the boot service served %s while down: %v", name, ev)
			}
		}
		heal("boot-service-down")
		healed := time.Now()
		for _, name := range []string{"bios1", "uefi1"} {
			select {
			case err := <-runs[name].done:
				if err != nil {
					t.Fatalf("labctl reprovision %s after healing: %v", name, err)
				}
			case <-time.After(4 * time.Minute):
				t.Fatalf("reprovision %s did not end within 4m of healing", name)
			}
			if !strings.Contains(runs[name].out.String(), "all 2 checks passed") {
				t.Errorf("reprovision %s's output lacks the scenario's checks", name)
			}
			m, _ := b.machine(t, name)
			rep := b.events(t, m, bootlog.KindReport, healed)
			if len(rep) == 0 {
				t.Fatalf("%s: no booted report after healing", name)
			}
			t.Logf("recovery: %s reported %.1fs after the boot service was healed (faults injected %.1fs before)",
				name, rep[0].Time.Sub(healed).Seconds(), healed.Sub(since).Seconds())
		}
		if s, err := b.e.status(ctx); err != nil || len(s.Faults) != 0 {
			t.Errorf("status after healing lists faults %+v (%v); want none", s.Faults, err)
		}
		for _, name := range []string{"bios1", "uefi1"} {
			b.waitPower(t, name, power.Off, time.Minute)
		}
	}
}
