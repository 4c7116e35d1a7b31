package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestE2EBootMatrix runs the boot-matrix scenario (docs/boot-matrix.md) on
// both providers: the machine with a TPM reports a PCR 0 its firmware
// extended, the one without reports no TPM, and each machine's swtpm (QEMU
// provider) or libvirt's goes with the lab; uefi-http fetched iPXE over
// HTTP, and on the QEMU provider's lab a PXE machine is switched to UEFI
// HTTP boot through Redfish (httpBootThroughRedfish); uefi-ipv6 booted
// over IPv6 only (assertIPv6OnlyPath).
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
			for _, want := range []string{`uefi-tpm +check tpm-pcrs-measured passed`, `uefi-plain +check no-tpm-without-one passed`, `all 8 checks passed`} {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("output lacks /%s/", want)
				}
			}
			assertSecureBootPath(t, out)
			// The guest's own reading, as the boot service recorded its
			// report: a non-zero sha256 PCR 0.
			if m := regexp.MustCompile(`uefi-tpm +report booted: .*tpm=measured pcr0=([0-9A-Fa-f]{64})`).FindStringSubmatch(out); m == nil || strings.Trim(m[1], "0") == "" {
				t.Error("uefi-tpm reported no non-zero PCR 0")
			}
			if !regexp.MustCompile(`uefi-plain +report booted: .*tpm=none`).MatchString(out) {
				t.Error("uefi-plain did not report itself without a TPM")
			}
			// UEFI HTTP boot: the path uefi-http took (docs/boot-matrix.md).
			for _, want := range []string{`uefi-http +check efi-fetched-over-http passed`, `uefi-http +check booted-by-http passed`} {
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
				httpBootThroughRedfish(t, ctx, e)
				if down, err := e.run(ctx, "down", "boot-matrix"); err != nil {
					t.Fatalf("down: %v\n%s", err, down)
				}
			}
			e.assertNothingLeft(t)
		})
	}
}
