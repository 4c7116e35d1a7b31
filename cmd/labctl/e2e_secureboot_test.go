package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/firmware"
)

// assertSecureBootPath: in boot-matrix's output, uefi-secureboot booted
// through the signed chain (dnsmasq's TFTP log: shim, GRUB, the menu
// written from the boot service's /grub answer, the kernel) with Secure
// Boot on, and uefi-plain, the same image without it, read it off.
func assertSecureBootPath(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{"uefi-secureboot check secure-boot-enabled passed", "uefi-plain check secure-boot-off-without-it passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, file := range []string{"shimx64.efi", "grubx64.efi", "grub/machines/52:54:00:77:30:13.cfg", "assets/smoke/vmlinuz", "assets/smoke/initrd.img"} {
		if !regexp.MustCompile(`uefi-secureboot +TFTP \S*/` + regexp.QuoteMeta(file) + `\n`).MatchString(out) {
			t.Errorf("uefi-secureboot did not fetch %s over TFTP", file)
		}
	}
	if regexp.MustCompile(`uefi-secureboot +TFTP \S*/ipxe.efi`).MatchString(out) {
		t.Error("uefi-secureboot was handed iPXE")
	}
	if !regexp.MustCompile(`uefi-secureboot +report booted: .*secureboot=enabled`).MatchString(out) {
		t.Error("uefi-secureboot did not report Secure Boot on")
	}
}

// TestE2ESecureBootRefusesUnsigned is the mutation of boot-matrix's Secure
// Boot machine: given iPXE's unsigned EFI build where the signed shim
// belongs, its firmware refuses to start it, the machine never asks the
// boot service for anything, and labctl fails it as soon as the console
// says so, naming the machine and the stage.
func TestE2ESecureBootRefusesUnsigned(t *testing.T) {
	e := newE2E(t, "boot-matrix")
	dir := filepath.Join(t.TempDir(), "boot-matrix-unsigned")
	if err := os.CopyFS(dir, os.DirFS("../../scenarios/boot-matrix")); err != nil {
		t.Fatal(err)
	}
	// The Secure Boot machine alone, as boot-matrix has it.
	sc := `name: boot-matrix
description: boot-matrix's Secure Boot machine handed an unsigned program.
images: [smoke]
deadline: 3m
network: {subnet: 10.77.30.0/24, gateway: 10.77.30.1, domain: boot-matrix.lab}
machines:
  - {name: uefi-secureboot, mac: "52:54:00:77:30:13", uuid: 7d3c0b1e-0b6a-4d51-9c39-000000003013, ip: 10.77.30.13,
     memory_mib: 512, vcpus: 1, disk_gib: 1, firmware: uefi, boot: [network], secure_boot: true}
checks:
  - {name: secure-boot-enabled, nodes: [uefi-secureboot], report: {event: booted, detail_contains: "secureboot=enabled"}}
`
	if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), []byte(sc), 0o644); err != nil {
		t.Fatal(err)
	}
	unsigned := t.TempDir()
	ipxe, err := firmware.Find("")
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{firmware.Shim: ipxe["ipxe.efi"], firmware.GRUB: firmware.DebianSigned[firmware.GRUB]} {
		raw, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(unsigned, name), raw, 0o644)
	}

	ctx, cancel := e2eContext(t)
	defer cancel()
	start := time.Now()
	out, err := e.run(ctx, "test", dir, "--provider", "qemu", "--netns", e.netns, "--secure-boot-dir", unsigned, "--artifacts", t.TempDir())
	took := time.Since(start)
	t.Logf("labctl test (unsigned program for a Secure Boot machine), %v:\n%s", took, out)
	if err == nil {
		t.Fatal("labctl test passed with an unsigned program on a Secure Boot machine")
	}
	for _, want := range []string{"machine uefi-secureboot: Secure Boot: the firmware refused the network boot program", "Access Denied"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// It was the program in the shim's place that it refused, and it got
	// no further: no GRUB, no request to the boot service.
	if !regexp.MustCompile(`uefi-secureboot +TFTP \S*/shimx64.efi\n`).MatchString(out) {
		t.Error("uefi-secureboot did not fetch the program in shimx64.efi's place")
	}
	if regexp.MustCompile(`uefi-secureboot +(TFTP \S*/grubx64.efi|report booted|fetched )`).MatchString(out) {
		t.Error("uefi-secureboot got past the unsigned program")
	}
	// The deadline is 3 minutes: the refusal on the console ends it.
	if took > 2*time.Minute {
		t.Errorf("failed after %v: not at the refusal", took)
	}
	e.assertNothingLeft(t)
}
