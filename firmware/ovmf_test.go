package firmware

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestNewNVRAM copies Debian's own variable store: a machine's NVRAM is the
// template byte for byte, and a used NVRAM is replaced, not appended to.
func TestNewNVRAM(t *testing.T) {
	want, err := os.ReadFile(DebianOVMF.Vars)
	if err != nil {
		t.Fatalf("Debian's ovmf package: %v", err)
	}
	if _, err := os.Stat(DebianOVMF.Code); err != nil {
		t.Fatalf("Debian's ovmf package: %v", err)
	}
	dir := t.TempDir()
	tests := []struct {
		name   string
		before []byte // the machine's NVRAM before, nil if none
	}{
		{"new machine", nil},
		{"reimaged machine", append(bytes.Repeat([]byte{0xAA}, len(want)), "settings"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(dir, tt.name, "OVMF_VARS.fd")
			if tt.before != nil {
				os.MkdirAll(filepath.Dir(dst), 0o755)
				if err := os.WriteFile(dst, tt.before, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := DebianOVMF.NewNVRAM(dst); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("NVRAM is %d bytes unlike %s (%d bytes)", len(got), DebianOVMF.Vars, len(want))
			}
		})
	}
	if err := (OVMF{Vars: filepath.Join(dir, "missing.fd")}).NewNVRAM(filepath.Join(dir, "m", "OVMF_VARS.fd")); err == nil {
		t.Error("NewNVRAM from a missing template succeeded")
	}
}
