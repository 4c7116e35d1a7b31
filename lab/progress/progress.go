// Package progress follows a lab's machines as they boot (dnsmasq's log, the
// boot service's machine log, serial consoles, power) and says which failed.
package progress

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/bootsvc/dnsmasq"
	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/tail"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/state"
)

// BootLog returns a client of the lab's boot service's machine log, its
// connections made inside the lab's namespace.
func BootLog(l *lab.Lab) *bootlog.Client {
	return &bootlog.Client{URL: l.BootBaseURL(), HTTP: netns.HTTPClient(l.Netns, 5*time.Second)}
}

// Step is one thing a machine did.
type Step struct {
	Machine string
	At      time.Duration // since the watcher started
	Text    string
	Kind    string // KindLease, KindTFTP, KindCheck or a machine-log event kind (bootlog.KindIPXE, ...)
	Name    string // a report's event name, a check's name
}

// Kinds of steps besides the machine log's event kinds.
const (
	KindLease = "lease" // dnsmasq acknowledged a DHCP lease
	KindTFTP  = "tftp"  // dnsmasq sent a file over TFTP
	KindCheck = "check" // a scenario check passed on the machine
	KindStall = "stall" // the machine's kernel reported a CPU stuck (soft lockup, RCU stall)
)

// firmwareGaveUp are what SeaBIOS, iPXE and OVMF print when no boot device
// worked; seeing one fails the machine at once.
var firmwareGaveUp = []string{"No bootable device", "No more network devices", "BdsDxe: No bootable option", "Boot Failed.", firmware.OVMFShellPrompt}

// firmwareStarted are what SeaBIOS prints as it starts, and iPXE as it
// starts (its banner: the first boot option of a UEFI machine after OVMF
// started, or iPXE loaded by HTTP boot). A failed boot is retried
// (vm.RebootTimeout, vm.RetryUEFIBoots): a give-up printed before the
// firmware started again was one attempt, not the machine's end.
var firmwareStarted = []string{"SeaBIOS (version", IPXEStarted}

// IPXEStarted is the end of iPXE's banner.
const IPXEStarted = "Open Source Network Boot Firmware"

// secureBootRefused are what the stages of a Secure Boot chain print when
// they refuse a program that is unsigned or signed by a key they do not
// trust: seeing one fails the machine at once, naming the stage. OVMF's
// boot manager says "BdsDxe: failed to load Boot0001 ...: Access Denied".
var secureBootRefused = []struct{ mark, stage string }{
	{"Verification failed: ", "shim refused the boot loader"},
	{"bad shim signature", "GRUB refused the kernel"},
	{": Access Denied", "the firmware refused the network boot program"},
	{": Security Violation", "the firmware refused the network boot program"},
}

// kernelStalled mark the lines a guest kernel prints when a CPU made no
// progress for many seconds: under TCG they show where a slow boot lost its
// time.
var kernelStalled = []string{"soft lockup - CPU#", "detected stall"}

// Watcher polls a lab. Not safe for concurrent use.
type Watcher struct {
	Lab     *lab.Lab
	BootLog bootlog.Reader
	Power   lab.PowerDriver

	start      time.Time
	dnsSeen    int64 // bytes of dnsmasq's log read, whole lines only
	eventSeen  map[string]int
	serialSeen map[string]int64 // bytes of each machine's serial log read, whole lines only
	// serialLooked is how far the give-up words were looked for in each
	// machine's serial log, the line still being written included.
	serialLooked map[string]int64
	gaveUp       map[string]string // the give-up words seen, by machine
	// bootPathDown is set while the lab has a fault on its boot path
	// (the boot service or DHCP unavailable): a machine's failed boot is
	// then expected, and it retries.
	bootPathDown bool
	refused      map[string]string // a Secure Boot refusal seen: stage and console line, by machine
}

// NewWatcher starts the clock for a lab's steps.
func NewWatcher(l *lab.Lab, power lab.PowerDriver) *Watcher {
	return &Watcher{Lab: l, BootLog: BootLog(l), Power: power, start: time.Now(),
		eventSeen: map[string]int{}, serialSeen: map[string]int64{}, serialLooked: map[string]int64{}, gaveUp: map[string]string{}, refused: map[string]string{}}
}

// Elapsed is the time since the watcher started: the clock of its steps.
func (w *Watcher) Elapsed() time.Duration { return time.Since(w.start) }

// Snapshot is the lab as one poll saw it.
type Snapshot struct {
	Steps    []Step                     // new since the previous poll
	Boot     map[string]*bootlog.Record // the boot service's record, by machine name
	Running  bool                       // the lab process says the lab is up
	Failures []error                    // each names the machine or process and shows a log tail
}

// Poll reads everything once.
func (w *Watcher) Poll(ctx context.Context) Snapshot {
	snap := Snapshot{Boot: map[string]*bootlog.Record{}}
	at := time.Since(w.start)
	st, err := state.Load(w.Lab.Dir)
	if err != nil {
		snap.Failures = append(snap.Failures, fmt.Errorf("lab state: %w", err))
		return snap
	}
	switch {
	case st.Phase == state.Failed:
		snap.Failures = append(snap.Failures, fmt.Errorf("lab process failed: %s\n%s", st.Error, tail.File(w.Lab.ProcessLog(), 15)))
		return snap
	case st.Pids["labd"] != 0 && !proc.Alive(st.Pids["labd"]):
		snap.Failures = append(snap.Failures, fmt.Errorf("lab process %d died:\n%s", st.Pids["labd"], tail.File(w.Lab.ProcessLog(), 15)))
		return snap
	}
	snap.Running = st.Phase == state.Running
	w.bootPathDown = slices.ContainsFunc(st.Faults, func(f state.Fault) bool { return f.BootPath })
	snap.Steps = append(snap.Steps, w.dnsmasqSteps(at)...)
	ms, err := w.BootLog.Records(ctx)
	if err != nil && snap.Running {
		snap.Failures = append(snap.Failures, err)
	}
	for _, m := range w.Lab.Machines {
		b := bootlog.Find(ms, m.MAC, m.UUID)
		snap.Boot[m.Name] = b
		if b != nil {
			for _, e := range b.Events[w.eventSeen[m.Name]:] {
				snap.Steps = append(snap.Steps, Step{Machine: m.Name, At: at, Text: describe(e), Kind: e.Kind, Name: e.Name})
			}
			w.eventSeen[m.Name] = len(b.Events)
		}
		snap.Steps = append(snap.Steps, w.serialSteps(m.Name, at)...)
		if !snap.Running {
			continue
		}
		if err := w.machineFailed(ctx, m, b); err != nil {
			snap.Failures = append(snap.Failures, err)
		}
	}
	return snap
}

// machineFailed says why m failed, if it did: its firmware gave up, its VM
// died unasked (at any point: a crash after the machine reported would
// otherwise leave the checks waiting for their deadline), or it is off
// without having reported to the boot service.
func (w *Watcher) machineFailed(ctx context.Context, m lab.Machine, b *bootlog.Record) error {
	serial := w.Lab.MachineFiles(m.Name).SerialLog
	failed := func(why string) error {
		return fmt.Errorf("machine %s: %s\n%s", m.Name, why, tail.Serial(serial, 20))
	}
	if s := w.refused[m.Name]; s != "" {
		// Before the give-up words: the firmware gives up after it.
		return failed("Secure Boot: " + s)
	}
	if s := w.gaveUp[m.Name]; s != "" {
		return failed(fmt.Sprintf("firmware gave up (%q)", s))
	}
	if r := w.Lab.Rack; r != nil && b != nil && b.IP != "" && b.IP != m.IP.String() {
		// A rack's scenario was written for the inventory's addresses (its
		// members know each other's before boot): a server elsewhere
		// would leave the checks waiting for their deadline.
		return fmt.Errorf("machine %s (server %s): the boot service saw it at %s, but inventory %s gives its address as %s",
			m.Name, r.Server(m.Name), b.IP, r.Inventory, m.IP)
	}
	if p, err := w.Power.PowerState(ctx, w.Lab, m.Name); err != nil || p != power.Off {
		return nil
	}
	// Asked once the machine is seen off: libvirt's shutoff reason and the
	// QEMU provider's fault file are final by then.
	if faults, ok := w.Power.(lab.FaultReporter); ok {
		if f, err := faults.MachineFault(ctx, w.Lab, m.Name); err == nil && f != "" {
			return failed(f)
		}
	}
	if b.Reported() {
		return nil // it powered itself off after reporting (pxe-smoke's machines do)
	}
	// The boot log was read before the power state: a machine that
	// reports and powers off at once (the smoke image) may have done both
	// in between, so read the log again before calling it a failure.
	if ms, err := w.BootLog.Records(ctx); err == nil && bootlog.Find(ms, m.MAC, m.UUID).Reported() {
		return nil
	}
	return failed("powered off before it reported to the boot service")
}

// serialSteps reads what machine's serial log gained since the last poll
// (a node's console grows to some 200 KB over k8s-install): the kernel's
// stall reports become steps, and the firmware's give-up words, once seen,
// are kept for machineFailed, unless the firmware started again after
// them or the lab's boot path is down (the machine retries). The words
// are looked for in the line still being written too, which the next poll
// reads again.
func (w *Watcher) serialSteps(machine string, at time.Duration) []Step {
	seen := w.serialSeen[machine]
	whole, partial := newLines(w.Lab.MachineFiles(machine).SerialLog, &seen)
	w.serialSeen[machine] = seen
	text := append(whole[:len(whole):len(whole)], partial...)
	// A word counts once: the line still being written is read again by
	// each poll, and OVMF's shell prompt stays there. One seen while the
	// boot path was down is not a failure after it healed.
	base := seen - int64(len(whole))
	looked := w.serialLooked[machine] - base
	if looked > int64(len(text)) {
		looked = 0 // a new log
	}
	w.serialLooked[machine] = base + int64(len(text))
	last, word := -1, ""
	for _, s := range firmwareGaveUp {
		if i := bytes.LastIndex(text, []byte(s)); i > last && int64(i+len(s)) > looked {
			last, word = i, s
		}
	}
	restart := -1
	for _, s := range firmwareStarted {
		restart = max(restart, bytes.LastIndex(text, []byte(s)))
	}
	switch {
	case restart > last:
		delete(w.gaveUp, machine)
	case last >= 0 && !w.bootPathDown && w.gaveUp[machine] == "":
		w.gaveUp[machine] = word
	}
	if r := refusal(whole, partial); r != "" && w.refused[machine] == "" {
		w.refused[machine] = r
	}
	var steps []Step
	for line := range strings.Lines(string(whole)) {
		for _, mark := range kernelStalled {
			if i := strings.Index(line, mark); i >= 0 {
				// From the kernel's subsystem on, without its timestamp.
				text := strings.TrimSpace(line[strings.LastIndex(line[:i], "] ")+2:])
				steps = append(steps, Step{Machine: machine, At: at, Text: "kernel: " + text, Kind: KindStall})
				break
			}
		}
	}
	return steps
}

// refusal is the first Secure Boot refusal in a console's new lines: the
// stage and the line that says it (escape sequences and all: the tail
// shown with the failure is cleaned), or "".
func refusal(whole, partial []byte) string {
	for _, r := range secureBootRefused {
		for _, text := range [][]byte{whole, partial} {
			i := bytes.Index(text, []byte(r.mark))
			if i < 0 {
				continue
			}
			start := bytes.LastIndexAny(text[:i], "\r\n") + 1
			end := len(text)
			if j := bytes.IndexAny(text[i:], "\r\n"); j >= 0 {
				end = i + j
			}
			return fmt.Sprintf("%s (%q)", r.stage, strings.TrimSpace(string(text[start:end])))
		}
	}
	return ""
}

// maxPartial bounds the line still being written that newLines leaves for
// the next read: a console that never ends its line is not read again and
// again.
const maxPartial = 64 << 10

// newLines reads what the file at path gained since *seen (a byte offset,
// moved past what it returns as whole): the whole lines, and the line still
// being written, which the next call reads again. A file shorter than *seen
// is a new one, read from its start.
func newLines(path string, seen *int64) (whole, partial []byte) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil
	}
	if st.Size() < *seen {
		*seen = 0
	}
	raw, err := io.ReadAll(io.NewSectionReader(f, *seen, st.Size()-*seen))
	if err != nil {
		return nil, nil
	}
	n := bytes.LastIndexByte(raw, '\n') + 1
	if len(raw)-n > maxPartial {
		n = len(raw)
	}
	*seen += int64(n)
	return raw[:n], raw[n:]
}

func describe(e bootlog.Event) string {
	switch e.Kind {
	case bootlog.KindReport:
		return fmt.Sprintf("report %s: %s", e.Name, e.Detail)
	case bootlog.KindAsset:
		return fmt.Sprintf("fetched %s (%d)", e.Path, e.Status)
	case bootlog.KindFirmware:
		return fmt.Sprintf("firmware fetched %s over %s (%d)", e.Path, bootlog.FirmwareProtocol(e), e.Status)
	}
	return fmt.Sprintf("%s script %s (%d)", e.Kind, e.Path, e.Status)
}

// dnsmasqSteps turns new DHCPACK, DHCPv6 REPLY and TFTP lines of dnsmasq's
// log into steps, each line once and whole.
func (w *Watcher) dnsmasqSteps(at time.Duration) []Step {
	whole, _ := newLines(w.Lab.DnsmasqLog(), &w.dnsSeen)
	var steps []Step
	for line := range strings.Lines(string(whole)) {
		line = strings.TrimSuffix(line, "\n")
		sent, isSent := dnsmasq.TFTPSent(line)
		for _, m := range w.Lab.Machines {
			mac, ip := m.MAC.String(), m.IP.String()
			switch {
			case strings.Contains(line, "DHCPACK(") && strings.Contains(line, " "+mac):
				steps = append(steps, Step{Machine: m.Name, At: at, Text: "DHCP lease " + ip, Kind: KindLease})
			case m.IPv6Only() && strings.Contains(line, "DHCPREPLY(") && strings.Contains(line, ") "+ip+" "):
				// DHCPv6 names the client by DUID, not MAC: the reserved
				// address tells it. A dual-stack machine's DHCPv4 lease
				// alone marks its phases, as on IPv4.
				steps = append(steps, Step{Machine: m.Name, At: at, Text: "DHCPv6 lease " + ip, Kind: KindLease})
			case isSent && sent.To == ip:
				steps = append(steps, Step{Machine: m.Name, At: at, Text: "TFTP " + sent.File, Kind: KindTFTP})
			}
		}
	}
	return steps
}
