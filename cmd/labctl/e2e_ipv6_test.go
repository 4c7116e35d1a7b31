package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// assertIPv6OnlyPath checks the path boot-matrix's IPv6-only machine took
// (docs/boot-matrix.md): its checks passed, the guest reported no IPv4
// address and one in the lab's IPv6 subnet, while uefi-plain, booting the
// same image on IPv4, reported its IPv4 address (so ipv4=none comes from
// the network, not the image); and the boot service's own request log shows
// its boot script fetched from the machine's DHCPv6 address. Dual stack:
// dnsmasq's log shows uefi-plain leased both its IPv4 address and its IPv6
// reservation, and uefi-ipv6 no IPv4 one.
func assertIPv6OnlyPath(t *testing.T, out, artifacts string) {
	t.Helper()
	for _, want := range []string{
		`uefi-ipv6 +check fetched-over-ipv6 passed`,
		`uefi-ipv6 +check booted-ipv6-only passed`,
		`uefi-ipv6 +report booted: .*ipv4=none ipv6=fd00:77:30:`,
		`uefi-plain +report booted: .*ipv4=10\.77\.30\.12 `,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks /%s/", want)
		}
	}
	bootLog, dnsmasqLog := readArtifact(artifacts, "bootsvc.log"), readArtifact(artifacts, "dnsmasq.log")
	if !regexp.MustCompile(`path=/ipxe .*remote=fd00:77:30::21\b`).Match(bootLog) {
		t.Errorf("the boot service's log in %s shows no /ipxe request from fd00:77:30::21, uefi-ipv6's DHCPv6 address", artifacts)
	}
	for _, want := range []string{
		`DHCPREPLY\(labbr0\) fd00:77:30::21 .* uefi-ipv6`,
		`DHCPACK\(labbr0\) 10\.77\.30\.12 52:54:00:77:30:12 uefi-plain`,
		`DHCPREPLY\(labbr0\) fd00:77:30::12 .* uefi-plain`,
	} {
		if !regexp.MustCompile(want).Match(dnsmasqLog) {
			t.Errorf("dnsmasq's log in %s lacks /%s/", artifacts, want)
		}
	}
	if regexp.MustCompile(`DHCPACK\(labbr0\) \S+ 52:54:00:77:30:21`).Match(dnsmasqLog) {
		t.Error("dnsmasq leased uefi-ipv6, an IPv6-only machine, an IPv4 address")
	}
}

// readArtifact returns the contents of every file called name under dir.
func readArtifact(dir, name string) []byte {
	var all []byte
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name {
			b, _ := os.ReadFile(p)
			all = append(all, b...)
		}
		return nil
	})
	return all
}
