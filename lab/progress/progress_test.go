package progress

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/lab"
)

// writeLog appends chunk to path, or replaces path's content when chunk
// starts with "!".
func writeLog(t *testing.T, path, chunk string) {
	t.Helper()
	flag := os.O_APPEND
	if strings.HasPrefix(chunk, "!") {
		chunk, flag = chunk[1:], os.O_TRUNC
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(chunk); err != nil {
		t.Fatal(err)
	}
}

// While the lab's boot path is down, a machine's failed boot is not its
// end: it retries once the fault is healed.
func TestGiveUpUnderBootPathFault(t *testing.T) {
	l := &lab.Lab{Dir: t.TempDir()}
	serial := l.MachineFiles("m").SerialLog
	w := NewWatcher(l, nil)
	w.bootPathDown = true
	writeLog(t, serial, "iPXE 1.21\nNo more network devices\nNo bootable device.  Retrying in 5 seconds.\n")
	w.serialSteps("m", 0)
	if got := w.gaveUp["m"]; got != "" {
		t.Errorf("under a boot-path fault, gave up %q; want a retry expected", got)
	}
	w.bootPathDown = false
	writeLog(t, serial, "No bootable device.  Retrying in 5 seconds.\n")
	w.serialSteps("m", 0)
	if got := w.gaveUp["m"]; got != "No bootable device" {
		t.Errorf("healed, a failed boot: gave up %q, want it seen", got)
	}
}

// OVMF's give-up is its shell's prompt, which stays in the line still being
// written, read again by every poll: one left from while the boot path was
// down is not a failure once it healed, nor after vm.RetryUEFIBoots started
// the machine again; a prompt after that is, also one split across polls.
func TestUEFIShellPromptAfterBootPathFault(t *testing.T) {
	l := &lab.Lab{Dir: t.TempDir()}
	serial := l.MachineFiles("m").SerialLog
	w := NewWatcher(l, nil)
	w.bootPathDown = true
	const failed = "iPXE 1.0.0+ -- Open Source Network Boot Firmware -- http://ipxe.org\r\nNo more network devices\r\n" +
		"BdsDxe: loading Boot0003 \"EFI Internal Shell\" from Fv(7CB8BDC9)\r\n" +
		"Press ESC in 1 seconds to skip startup.nsh or any other key to continue.\r\n"
	for _, step := range []struct {
		name, write string
		healed      bool
		want        string
	}{
		{"at the shell under the fault", failed + firmware.OVMFShellPrompt, false, ""},
		{"healed, the prompt read again", "", true, ""},
		{"started again", "\x1b[2J\x1b[01;01H\r\n\x1b[1m\x1b[37m\x1b[40miPXE 1.0.0+\x1b[0m\x1b[37m\x1b[40m -- Open Source Network Boot Firmware -- \r\n", true, ""},
		{"failed again, the prompt split", ">>Start HTTP Boot over IPv4.....\r\n  Error: Could not retrieve NBP file size from HTTP server.\r\n" +
			"Press ESC in 1 seconds to skip startup.nsh or any other key to continue.\r\nShe", true, ""},
		{"the prompt's end", "ll> ", true, firmware.OVMFShellPrompt},
	} {
		w.bootPathDown = !step.healed
		if step.write != "" {
			writeLog(t, serial, step.write)
		}
		w.serialSteps("m", 0)
		if got := w.gaveUp["m"]; got != step.want {
			t.Errorf("%s: gave up %q, want %q", step.name, got, step.want)
		}
	}
}

// The firmware's give-up words and the kernel's stall reports are found
// however the console's output is cut into polls, each report once, while
// each poll reads only what the log gained since its last whole line.
func TestSerialStepsReadWhatIsNew(t *testing.T) {
	const (
		lockup = "[  240.882516] watchdog: BUG: soft lockup - CPU#0 stuck for 43s! [(udev-worker):734]\n"
		rcu    = "[  102.029186] rcu: INFO: rcu_preempt self-detected stall on CPU\n"
	)
	for _, tc := range []struct {
		name   string
		writes []string   // what is written before each poll ("!": the log replaced)
		gaveUp []string   // the give-up words known after each poll
		stalls [][]string // the stall steps' texts at each poll
	}{
		{"in one poll", []string{"iPXE 1.21\nNo more network devices\n"}, []string{"No more network devices"}, [][]string{nil}},
		{"split across two polls, no newline after", []string{"SeaBIOS\nNo boota", "ble device."}, []string{"", "No bootable device"}, [][]string{nil, nil}},
		{"seen once, kept after more output", []string{"BdsDxe: No bootable option\n", strings.Repeat("later output\n", 1000)}, []string{"BdsDxe: No bootable option", "BdsDxe: No bootable option"}, [][]string{nil, nil}},
		{"never", []string{"Linux version 6.1\n", strings.Repeat("systemd[1]: Started\n", 1000)}, []string{"", ""}, [][]string{nil, nil}},
		{"a new, shorter log", []string{strings.Repeat("x", 100) + "\n", "!Boot Failed."}, []string{"", "Boot Failed."}, [][]string{nil, nil}},
		{"a soft lockup and an RCU stall", []string{"Linux\n" + lockup + rcu}, []string{""}, [][]string{{"kernel: watchdog: BUG: soft lockup - CPU#0 stuck for 43s! [(udev-worker):734]", "kernel: rcu: INFO: rcu_preempt self-detected stall on CPU"}}},
		{"a lockup line cut by a poll, reported once", []string{lockup[:50], lockup[50:], "later\n"}, []string{"", "", ""}, [][]string{nil, {"kernel: watchdog: BUG: soft lockup - CPU#0 stuck for 43s! [(udev-worker):734]"}, nil}},
		{"a failed boot retried: given up, then started again", []string{"SeaBIOS (version 1.16.2)\nNo bootable device.  Retrying in 5 seconds.\nSeaBIOS (version 1.16.2)\niPXE 1.21\n"}, []string{""}, [][]string{nil}},
		{"given up, started again at the next poll", []string{"No bootable device.  Retrying in 5 seconds.\n", "SeaBIOS (version 1.16.2)\n"}, []string{"No bootable device", ""}, [][]string{nil, nil}},
		{"given up again after a retry", []string{"No bootable device.\nSeaBIOS (version 1.16.2)\n", "No more network devices\n"}, []string{"", "No more network devices"}, [][]string{nil, nil}},
		{"a line that never ends is not read again", []string{strings.Repeat("=", maxPartial+1), "No more network devices"}, []string{"", "No more network devices"}, [][]string{nil, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &lab.Lab{Dir: t.TempDir()}
			serial := l.MachineFiles("m").SerialLog
			w := NewWatcher(l, nil)
			read := 0
			for i, chunk := range tc.writes {
				writeLog(t, serial, chunk)
				var stalls []string
				for _, s := range w.serialSteps("m", 0) {
					if s.Kind != KindStall || s.Machine != "m" {
						t.Errorf("poll %d: step %+v", i+1, s)
					}
					stalls = append(stalls, s.Text)
				}
				if !slices.Equal(stalls, tc.stalls[i]) {
					t.Errorf("poll %d: stall steps %q, want %q", i+1, stalls, tc.stalls[i])
				}
				if got := w.gaveUp["m"]; got != tc.gaveUp[i] {
					t.Errorf("poll %d: gave up %q, want %q", i+1, got, tc.gaveUp[i])
				}
				// Read to the end of the last whole line, or past a
				// line longer than maxPartial.
				raw, _ := os.ReadFile(serial)
				if len(raw) < read {
					read = 0
				}
				unread := raw[read:]
				n := strings.LastIndexByte(string(unread), '\n') + 1
				if len(unread)-n > maxPartial {
					n = len(unread)
				}
				if read += n; w.serialSeen["m"] != int64(read) {
					t.Errorf("poll %d: read to byte %d, want %d", i+1, w.serialSeen["m"], read)
				}
			}
		})
	}
}

// Each stage of a Secure Boot chain refuses in its own words, as these
// programs print them on the console: the refusal names the stage and
// quotes the line, the first one seen is kept, and a machine that boots
// (Secure Boot on, said by the kernel) is not refused.
func TestSecureBootRefusal(t *testing.T) {
	const ovmf = "BdsDxe: failed to load Boot0001 \"UEFI PXEv4 (MAC:525400773014)\" from PciRoot(0x0)/Pci(0x1,0x0)/MAC(525400773014,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0): Access Denied"
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string // the refusal known after each poll
	}{
		{"firmware refuses an unsigned program", []string{">>Start PXE over IPv4.\r\n  NBP file downloaded successfully.\r\n" + ovmf + "\r\n"},
			[]string{"the firmware refused the network boot program (" + `"` + strings.ReplaceAll(ovmf, `"`, `\"`) + `"` + ")"}},
		{"shim refuses GRUB, then the firmware gives up", []string{"Fetching Netboot Image grubx64.efi\nVerification failed: (0x1A) Security Violation\n", "BdsDxe: failed to load Boot0001: Access Denied\n"},
			[]string{`shim refused the boot loader ("Verification failed: (0x1A) Security Violation")`, `shim refused the boot loader ("Verification failed: (0x1A) Security Violation")`}},
		{"GRUB refuses the kernel, line still being written", []string{"Loading kernel\nerror: bad shim signature"}, []string{`GRUB refused the kernel ("error: bad shim signature")`}},
		{"a Secure Boot boot", []string{"Fetching Netboot Image grubx64.efi\n[    0.000000] secureboot: Secure boot enabled\n"}, []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &lab.Lab{Dir: t.TempDir()}
			w := NewWatcher(l, nil)
			for i, chunk := range tc.writes {
				writeLog(t, l.MachineFiles("m").SerialLog, chunk)
				w.serialSteps("m", 0)
				if got := w.refused["m"]; got != tc.want[i] {
					t.Errorf("poll %d: refusal %q, want %q", i+1, got, tc.want[i])
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
		// DHCPv6, as dnsmasq 2.90 logs iPXE's (DUID-UUID): the address names the machine.
		reply6 = "Dec  6 22:01:52 dnsmasq-dhcp[41]: 15790072 DHCPREPLY(labbr0) fd00:77::11 00:04:7d:3c:0b:1e:0b:6a:4d:51:9c:39:00:00:00:00:30:21 bios1\n"
		adv6   = "Dec  6 22:01:52 dnsmasq-dhcp[41]: 15790072 DHCPADVERTISE(labbr0) fd00:77::11 00:04:7d:3c:0b:1e:0b:6a:4d:51:9c:39:00:00:00:00:30:21 bios1\n"
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
		{"a DHCPv6 lease of an IPv6-only machine", []string{adv6 + reply6}, [][]string{{"DHCPv6 lease fd00:77::11"}}},
		{"a new, shorter log", []string{noise + noise + ack, "!" + ack}, [][]string{{"DHCP lease 10.77.0.11"}, {"DHCP lease 10.77.0.11"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := &lab.Lab{Dir: dir, Machines: []lab.Machine{{Name: "bios1", MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x11}, IP: netip.MustParseAddr("10.77.0.11")}}}
			if strings.Contains(tc.name, "IPv6-only") {
				l.Machines[0].IP = netip.MustParseAddr("fd00:77::11")
			}
			w := &Watcher{Lab: l}
			for i, chunk := range tc.writes {
				writeLog(t, l.DnsmasqLog(), chunk)
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
