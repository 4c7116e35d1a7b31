package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/lab/netns"
)

// TestE2EBootMatrix runs the boot-matrix scenario (docs/boot-matrix.md) on
// both providers: bios-pxe booted by BIOS and uefi-plain by UEFI; the
// machine with a TPM reports a PCR 0 its firmware extended, the one without
// reports no TPM, and each machine's swtpm (QEMU provider) or libvirt's
// goes with the lab; uefi-tpm and uefi-secureboot installed to their disks
// and booted from them (assertBootedFromDisk); uefi-http fetched iPXE over
// HTTP, and on the QEMU provider's lab a PXE machine is switched to UEFI
// HTTP boot through Redfish (httpBootThroughRedfish); uefi-ipv6 booted
// over IPv6 only (assertIPv6OnlyPath); and uefi-tpm's TPM keeps its state
// across a power-off (tpmStateAcrossPowerOff).
func TestE2EBootMatrix(t *testing.T) {
	for _, provider := range []string{"qemu", "libvirt"} {
		t.Run(provider, func(t *testing.T) {
			e := newE2E(t, "boot-matrix")
			ctx, cancel := e2eContext(t)
			defer cancel()
			art := t.TempDir()
			args := []string{"test", "boot-matrix", "--provider", provider, "--netns", e.netns, "--artifacts", art}
			// The QEMU provider's lab stays up to show where the TPM's state is kept.
			keep := provider == "qemu"
			if keep {
				args = append(args, "--keep")
			}
			out, err := e.run(ctx, args...)
			t.Logf("labctl test:\n%s", out)
			if err != nil {
				t.Fatalf("labctl %s: %v", strings.Join(args, " "), err)
			}
			for _, want := range []string{`uefi-tpm +check tpm-pcrs-measured passed`, `uefi-plain +check no-tpm-without-one passed`,
				`bios-pxe +check booted-by-bios passed`, `uefi-plain +check booted-by-uefi passed`, `uefi-tpm +check tpm-kept-across-install passed`,
				`all 14 checks passed \(16 on their nodes\)`} {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("output lacks /%s/", want)
				}
			}
			assertSecureBootPath(t, out)
			assertBootedFromDisk(t, out, "uefi-tpm", "uefi-secureboot")
			// The guest's own reading, as the boot service recorded its
			// report: a non-zero sha256 PCR 0.
			if m := regexp.MustCompile(`uefi-tpm +report booted: .*tpm=measured pcr0=([0-9A-Fa-f]{64})`).FindStringSubmatch(out); m == nil || strings.Trim(m[1], "0") == "" {
				t.Error("uefi-tpm reported no non-zero PCR 0")
			}
			if !regexp.MustCompile(`uefi-plain +report booted: .*tpm=none`).MatchString(out) {
				t.Error("uefi-plain did not report itself without a TPM")
			}
			// UEFI HTTP boot: the path uefi-http took (docs/boot-matrix.md).
			for _, want := range []string{`uefi-http +check efi-fetched-over-https passed`, `uefi-http +firmware fetched /efi/52-54-00-77-30-20/ipxe.efi over https \(200\)`, `uefi-http +check booted-by-http passed`} {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("output lacks /%s/", want)
				}
			}
			assertIPv6OnlyPath(t, out, art)
			if keep {
				tpmState := filepath.Join(e.labDir(), "machines/uefi-tpm/tpm/tpm2-00.permall")
				if st, err := os.Stat(tpmState); err != nil || st.Size() == 0 {
					t.Errorf("the TPM's state is not kept in the machine's directory: %v", err)
				}
				if _, err := os.Stat(filepath.Join(e.labDir(), "machines/uefi-plain/tpm")); err == nil {
					t.Error("uefi-plain, without a TPM, has TPM state")
				}
				httpsBootEndpoint(t, ctx, e)
				httpBootThroughRedfish(t, ctx, e)
				tpmStateAcrossPowerOff(t, ctx, e, out)
				if down, err := e.run(ctx, "down", "boot-matrix"); err != nil {
					t.Fatalf("down: %v\n%s", err, down)
				}
			}
			e.assertNothingLeft(t)
		})
	}
}

// httpsBootEndpoint: status names the boot service's HTTPS address and
// certificate, and a client that trusts only that certificate, as the
// firmware does, fetches uefi-http's EFI binary there.
func httpsBootEndpoint(t *testing.T, ctx context.Context, e *e2eEnv) {
	out, err := e.run(ctx, "status", "boot-matrix")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`boot service over HTTPS for UEFI HTTPS boot \(inside namespace \S+\): (https://10\.77\.30\.1:8444), certificate (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("status names no HTTPS boot endpoint:\n%s", out)
	}
	pemCert, err := os.ReadFile(m[2])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemCert) {
		t.Fatalf("%s holds no certificate", m[2])
	}
	client := netns.HTTPClient(e.netns, 10*time.Second)
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: roots}
	resp, err := client.Get(m[1] + "/efi/52-54-00-77-30-20/ipxe.efi")
	if err != nil {
		t.Fatalf("GET over HTTPS with the status's certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/efi/.../ipxe.efi = %d, want 200", m[1], resp.StatusCode)
	}
}

// assertBootedFromDisk: each machine reported its install, then booted
// from the disk: its booted report says so (labctl.from=disk is only in
// the installed GRUB's config), and after the install it asked neither the
// boot service for an iPXE script nor dnsmasq for a TFTP file.
func assertBootedFromDisk(t *testing.T, out string, machines ...string) {
	t.Helper()
	for _, m := range machines {
		loc := regexp.MustCompile(`(?m)^.*\b` + m + ` +report installed: `).FindStringIndex(out)
		if loc == nil {
			t.Errorf("%s reported no install", m)
			continue
		}
		after := out[loc[1]:]
		if !regexp.MustCompile(m + ` +report booted: .*from=disk`).MatchString(after) {
			t.Errorf("%s did not report a boot from its disk after its install", m)
		}
		if l := regexp.MustCompile(`(?m)^.*\b` + m + ` +(ipxe script|TFTP) .*$`).FindString(after); l != "" {
			t.Errorf("%s booted from the network again after its install: %s", m, strings.TrimSpace(l))
		}
	}
}

// tpmStateAcrossPowerOff powers uefi-tpm on again through its BMC (the
// smoke image powers off once it reported) and reads its second report:
// the TPM's reset count, which the TPM keeps in its non-volatile state and
// counts up at each start-up, must have grown. A TPM whose state did not
// outlive the power-off (a new swtpm state each start) would report the
// first boot's count again.
func tpmStateAcrossPowerOff(t *testing.T, ctx context.Context, e *e2eEnv, testOut string) {
	m := regexp.MustCompile(`uefi-tpm +report booted: .*tpm-resets=([0-9]+)`).FindStringSubmatch(testOut)
	if m == nil {
		t.Fatal("uefi-tpm reported no TPM reset count")
	}
	first, _ := strconv.Atoi(m[1])
	bmcCmd := labBMC(t, ctx, e)
	waitFor(t, ctx, "uefi-tpm off after its report", func() (bool, string) {
		out := bmcCmd("power", "status", "uefi-tpm")
		return strings.Contains(out, "uefi-tpm: off"), out
	})
	client := &bootlog.Client{URL: "http://10.77.30.1:8080", HTTP: netns.HTTPClient(e.netns, 5*time.Second)}
	mark, err := client.Mark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bmcCmd("power", "on", "uefi-tpm")
	mac, _ := net.ParseMAC("52:54:00:77:30:11")
	resets := regexp.MustCompile(`tpm-resets=([0-9]+)`)
	waitFor(t, ctx, "uefi-tpm's second report", func() (bool, string) {
		rs, err := client.RecordsOf(ctx, mac, "")
		if err != nil || len(rs) == 0 {
			return false, fmt.Sprint(err)
		}
		for _, ev := range rs[0].Events {
			if ev.Seq <= mark || ev.Kind != bootlog.KindReport || ev.Name != "booted" {
				continue
			}
			m := resets.FindStringSubmatch(ev.Detail)
			if m == nil {
				t.Fatalf("uefi-tpm's second report has no TPM reset count: %s", ev.Detail)
			}
			if second, _ := strconv.Atoi(m[1]); second <= first {
				t.Fatalf("uefi-tpm's TPM reset count %d after a power-off, %d before: its state did not outlive the power-off", second, first)
			}
			t.Logf("uefi-tpm's TPM reset count: %d, then %s after a power-off through its BMC", first, m[1])
			return true, ""
		}
		return false, fmt.Sprintf("%+v", rs[0].Events)
	})
}
