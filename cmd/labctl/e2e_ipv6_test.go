package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// TestE2EEtcd3IPv6 runs etcd3-ipv6 through `labctl test`: three etcd
// members on an IPv6-only network converge and pass their checks over SSH
// on IPv6 (no IPv4 address on any machine, the members' peer and client
// URLs IPv6). The artifacts show the path: each machine's iPXE fetched its
// boot script from its DHCPv6 reservation, its initramfs the live root and
// its Ignition config over IPv6, nothing came from the IPv4 subnet, and
// dnsmasq leased the machines IPv6 addresses only.
func TestE2EEtcd3IPv6(t *testing.T) {
	e := newE2E(t, "etcd3-ipv6")
	ctx, cancel := e2eContext(t)
	defer cancel()
	art := t.TempDir()
	out, err := e.run(ctx, "test", "etcd3-ipv6", "--provider", "qemu", "--netns", e.netns, "--artifacts", art)
	t.Logf("labctl test etcd3-ipv6:\n%s", out)
	if err != nil {
		t.Fatalf("labctl test etcd3-ipv6: %v", err)
	}
	if !strings.Contains(out, "scenario etcd3-ipv6: all 6 checks passed") {
		t.Errorf("output lacks the scenario's 6 checks passed")
	}
	bootLog, dnsmasqLog := readArtifact(art, "bootsvc.log"), readArtifact(art, "dnsmasq.log")
	for _, n := range []string{"1", "2", "3"} {
		// iPXE from its DHCPv6 reservation, the initramfs's Ignition from
		// an IPv6 address (link-local, or SLAAC's in the lab's subnet).
		for _, want := range []string{
			`path=/ipxe .*remote=fd00:77:36::1` + n + ` `,
			`path=/ignition .*remote=(fd00:77:36:|fe80::)\S* labels="mac=52:54:00:77:36:1` + n,
			`DHCPREPLY\(labbr0\) fd00:77:36::1` + n + ` .* node` + n,
		} {
			log := bootLog
			if strings.HasPrefix(want, "DHCP") {
				log = dnsmasqLog
			}
			if !regexp.MustCompile(want).Match(log) {
				t.Errorf("the logs in %s lack /%s/", art, want)
			}
		}
	}
	// The live root as Ignition: dracut may fetch it before SLAAC's address
	// is out of duplicate address detection, so from its link-local one.
	if n := len(regexp.MustCompile(`path=/assets/labos/rootfs.squashfs .*remote=(fd00:77:36:|fe80::)`).FindAll(bootLog, -1)); n < 3 {
		t.Errorf("the boot service's log in %s has %d fetches of the live root over IPv6, want 3", art, n)
	}
	if regexp.MustCompile(`remote=10\.77\.36\.`).Match(bootLog) {
		t.Errorf("the boot service's log in %s has a request from the lab's IPv4 subnet", art)
	}
	if regexp.MustCompile(`DHCPACK\(labbr0\) \S+ 52:54:00:77:36:`).Match(dnsmasqLog) {
		t.Error("dnsmasq leased an IPv4 address to a machine of an IPv6-only lab")
	}
	e.assertNothingLeft(t)
}
