package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/lab/netns"
)

// httpBootThroughRedfish is UEFI HTTP boot chosen as an operator chooses
// it on a real server, on the running boot-matrix lab: uefi-plain, which
// booted by PXE (QEMU's iPXE ROM, no firmware fetch), is told through its
// BMC's Redfish service to boot by UefiHttp once, with the HttpBootUri the
// lab's DHCP offers it, and powered on through the BMC. Its next boot takes
// that path: the boot service's log shows its firmware fetched ipxe.efi
// over HTTP, its console shows OVMF's HTTP boot, it reports again, and
// dnsmasq sent it nothing over TFTP.
func httpBootThroughRedfish(t *testing.T, ctx context.Context, e *e2eEnv) {
	const (
		uri    = "http://10.77.30.1:8080/efi/52-54-00-77-30-12/ipxe.efi"
		efiReq = "/efi/52-54-00-77-30-12/ipxe.efi"
	)
	dir := e.labDir()
	bootLog := filepath.Join(dir, "bootsvc.log")
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	if strings.Contains(read(bootLog), efiReq) {
		t.Fatalf("uefi-plain fetched ipxe.efi over HTTP before it was told to:\n%s", read(bootLog))
	}
	bmcCmd := labBMC(t, ctx, e)
	// The smoke image powers off once it reported.
	waitFor(t, ctx, "uefi-plain off after its report", func() (bool, string) {
		out := bmcCmd("power", "status", "uefi-plain")
		return strings.Contains(out, "uefi-plain: off"), out
	})
	// Through Redfish, first in the lab's inventory (IPMI has no such device).
	if out := bmcCmd("bootdev", "uefi-http", "--once", "--uri", uri, "uefi-plain"); !strings.Contains(out, "uefi-plain: boot device uefi-http (once=true") {
		t.Errorf("bootdev uefi-http: %s", out)
	}
	bmcCmd("power", "on", "uefi-plain")
	waitFor(t, ctx, "ipxe.efi fetched by uefi-plain over HTTP", func() (bool, string) {
		return strings.Contains(read(bootLog), efiReq), ""
	})
	serial := filepath.Join(dir, "machines/uefi-plain/serial.log")
	waitFor(t, ctx, "OVMF's HTTP boot on uefi-plain's console", func() (bool, string) {
		s := read(serial)
		return strings.Contains(s, "Start HTTP Boot over IPv4") && strings.Contains(s, uri), ""
	})
	if strings.Contains(read(filepath.Join(dir, "dnsmasq.log")), " to 10.77.30.12") {
		t.Errorf("dnsmasq sent uefi-plain something over TFTP:\n%s", read(filepath.Join(dir, "dnsmasq.log")))
	}
}

// labBMC returns a function that runs `labctl bmc ARGS` on the lab's
// machines, through their BMCs as the lab's inventory lists them, and
// returns its output (failing the test on an error).
func labBMC(t *testing.T, ctx context.Context, e *e2eEnv) func(args ...string) string {
	inv, err := e.command(ctx, "status", e.scenario, "-o", "inventory").Output()
	if err != nil {
		t.Fatalf("status -o inventory: %v", err)
	}
	invPath := filepath.Join(t.TempDir(), "inventory.yaml")
	os.WriteFile(invPath, inv, 0o644)
	return func(args ...string) string {
		t.Helper()
		argv := append([]string{e.bin, "bmc"}, append(args, "--inventory", invPath)...)
		cmd := netns.Command(ctx, e.netns, argv...)
		cmd.Env = e.env
		out, err := cmd.CombinedOutput()
		t.Logf("labctl bmc %s:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("labctl bmc %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
}
