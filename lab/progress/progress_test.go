package progress

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The firmware's give-up words are found however the console's output is
// cut into polls, while each poll reads only what the log gained.
func TestFirmwareGaveUpScansWhatIsNew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string // what is written before each poll ("!": the log replaced)
		want   []string // the words found at each poll
	}{
		{"in one poll", []string{"iPXE 1.21\nNo more network devices\n"}, []string{"No more network devices"}},
		{"split across two polls", []string{"SeaBIOS\nNo boota", "ble device.\n"}, []string{"", "No bootable device"}},
		{"seen once, kept after more output", []string{"BdsDxe: No bootable option\n", strings.Repeat("later output\n", 1000)}, []string{"BdsDxe: No bootable option", "BdsDxe: No bootable option"}},
		{"never", []string{"Linux version 6.1\n", strings.Repeat("systemd[1]: Started\n", 1000)}, []string{"", ""}},
		{"a new, shorter log", []string{strings.Repeat("x", 100), "!Boot Failed."}, []string{"", "Boot Failed."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serial := filepath.Join(t.TempDir(), "serial.log")
			w := &Watcher{serialSeen: map[string]int64{}, gaveUp: map[string]string{}}
			for i, chunk := range tc.writes {
				flag := os.O_APPEND
				if strings.HasPrefix(chunk, "!") {
					chunk, flag = chunk[1:], os.O_TRUNC
				}
				f, err := os.OpenFile(serial, os.O_CREATE|os.O_WRONLY|flag, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(chunk)
				f.Close()
				if got := w.firmwareGaveUp("m", serial); got != tc.want[i] {
					t.Errorf("poll %d: %q, want %q", i+1, got, tc.want[i])
				}
				if st, _ := os.Stat(serial); tc.want[i] == "" && w.serialSeen["m"] != st.Size() {
					t.Errorf("poll %d: scanned to %d of %d bytes", i+1, w.serialSeen["m"], st.Size())
				}
			}
		})
	}
}
