package progress

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labctl/labctl/lab"
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

// dnsmasq's lines become steps once each, whole: a line still being written
// when a poll reads waits for the next poll, and a new log is read anew.
func TestDnsmasqStepsReadsWholeNewLines(t *testing.T) {
	const (
		ack   = "Nov 29 23:05:01 dnsmasq-dhcp[41]: 2914 DHCPACK(labbr0) 10.77.0.11 52:54:00:77:00:11 bios1\n"
		tftp  = "Nov 29 23:05:02 dnsmasq-tftp[41]: sent /var/lib/labctl/labs/x/tftp/undionly.kpxe to 10.77.0.11\n"
		noise = "Nov 29 23:05:03 dnsmasq-dhcp[41]: 2914 DHCPREQUEST(labbr0) 10.77.0.11 52:54:00:77:00:11\n"
	)
	for _, tc := range []struct {
		name   string
		writes []string   // what is written before each poll ("!": the log replaced)
		want   [][]string // the steps' texts at each poll
	}{
		{"one poll", []string{noise + ack + tftp}, [][]string{{"DHCP lease 10.77.0.11", "TFTP /var/lib/labctl/labs/x/tftp/undionly.kpxe"}}},
		{"each line once", []string{ack, noise, tftp}, [][]string{{"DHCP lease 10.77.0.11"}, nil, {"TFTP /var/lib/labctl/labs/x/tftp/undionly.kpxe"}}},
		{"a line cut by a poll", []string{ack[:40], ack[40:]}, [][]string{nil, {"DHCP lease 10.77.0.11"}}},
		{"a TFTP line cut before its address ends", []string{tftp[:len(tftp)-3], tftp[len(tftp)-3:]}, [][]string{nil, {"TFTP /var/lib/labctl/labs/x/tftp/undionly.kpxe"}}},
		{"a new, shorter log", []string{noise + noise + ack, "!" + ack}, [][]string{{"DHCP lease 10.77.0.11"}, {"DHCP lease 10.77.0.11"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := &lab.Lab{Dir: dir, Machines: []lab.Machine{{Name: "bios1", MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x11}, IP: netip.MustParseAddr("10.77.0.11")}}}
			w := &Watcher{Lab: l}
			for i, chunk := range tc.writes {
				flag := os.O_APPEND
				if strings.HasPrefix(chunk, "!") {
					chunk, flag = chunk[1:], os.O_TRUNC
				}
				f, err := os.OpenFile(l.DnsmasqLog(), os.O_CREATE|os.O_WRONLY|flag, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(chunk)
				f.Close()
				var got []string
				for _, s := range w.dnsmasqSteps(0) {
					if s.Machine != "bios1" {
						t.Errorf("poll %d: step %q for machine %q", i+1, s.Text, s.Machine)
					}
					got = append(got, s.Text)
				}
				if !slices.Equal(got, tc.want[i]) {
					t.Errorf("poll %d: steps %q, want %q", i+1, got, tc.want[i])
				}
			}
		})
	}
}
