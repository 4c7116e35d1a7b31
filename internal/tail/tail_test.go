package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	// Blank lines (a console prints many) are not shown: they would take
	// the place of lines that say something.
	os.WriteFile(p, []byte("a\n\nb\n  \nc\n\n"), 0o644)
	for _, tt := range []struct {
		n    int
		want string
	}{{2, "  | b\n  | c"}, {5, "  | a\n  | b\n  | c"}} {
		if got := File(p, tt.n); got != tt.want {
			t.Errorf("File(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := File(p+".missing", 2); !strings.Contains(got, "no such file") {
		t.Errorf("missing file: %q", got)
	}
}

// A serial console's end as OVMF and GRUB print it (taken from a UEFI lab
// machine): the reader sees the words, not the screen's redraws.
func TestFileSerialConsole(t *testing.T) {
	p := filepath.Join(t.TempDir(), "serial.log")
	raw := "\x1bM[  OK  ] Started systemd-networkd.service - Network Configuration.\r\n" +
		"[  250.339770] reboot: machine restart\r\n" +
		"\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01HBdsDxe: loading Boot0001 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0)\r\n" +
		"\x1b[0m\x1b[30m\x1b[47mWelcome to GRUB!\r\n" +
		"\x1b[48;01H   The highlighted entry will be executed automatically in 0s.                 \x1b[05;78H" + strings.Repeat("\x1b[06;03H   ", 80) + "\r\n" +
		strings.Repeat("\x1b[0m…", 300) + "\r\n"
	os.WriteFile(p, []byte(raw), 0o644)
	got := File(p, 6)
	want := "  | [  OK  ] Started systemd-networkd.service - Network Configuration.\n" +
		"  | [  250.339770] reboot: machine restart\n" +
		"  | BdsDxe: loading Boot0001 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0)\n" +
		"  | Welcome to GRUB!\n" +
		"  |    The highlighted entry will be executed automatically in 0s.\n" +
		"  | " + strings.Repeat("…", 200) + " …"
	if got != want {
		t.Errorf("File = %q\nwant %q", got, want)
	}
}
