// Package progress follows a lab's machines as they boot (dnsmasq's log, the
// boot service's machine log, serial consoles, power) and says which failed.
package progress

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/labd"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/state"
)

// Client returns an HTTP client whose connections are made inside the
// named namespace: the lab's boot service is not reachable from outside.
func Client(ns string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: netns.Dialer(ns)}}
}

// Machines fetches the boot service's machine log.
func Machines(ctx context.Context, c *http.Client, l *lab.Lab) ([]bootsvc.Machine, error) {
	url := fmt.Sprintf("http://%s/machines", labd.BootAddr(l))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var ms []bootsvc.Machine
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return ms, nil
}

// Step is one thing a machine did.
type Step struct {
	Machine string
	At      time.Duration // since the watcher started
	Text    string
}

// firmwareGaveUp are what SeaBIOS, iPXE and OVMF print when no boot device
// worked; seeing one fails the machine at once.
var firmwareGaveUp = []string{"No bootable device", "No more network devices", "BdsDxe: No bootable option", "Boot Failed."}

// Watcher polls a lab. Not safe for concurrent use.
type Watcher struct {
	Lab   *lab.Lab
	Dir   string
	HTTP  *http.Client
	Power lab.PowerController
	Logs  labd.Consoles // nil: no serial logs to read

	start     time.Time
	dnsSeen   int
	eventSeen map[string]int
}

// NewWatcher starts the clock for a lab's steps.
func NewWatcher(l *lab.Lab, dir string, power lab.PowerController, logs labd.Consoles) *Watcher {
	return &Watcher{Lab: l, Dir: dir, HTTP: Client(l.Netns), Power: power, Logs: logs, start: time.Now(), eventSeen: map[string]int{}}
}

// Snapshot is the lab as one poll saw it.
type Snapshot struct {
	Steps    []Step                      // new since the previous poll
	Boot     map[string]*bootsvc.Machine // the boot service's record, by machine name
	Running  bool                        // the lab process says the lab is up
	Failures []error                     // each names the machine or process and shows a log tail
}

// Poll reads everything once.
func (w *Watcher) Poll(ctx context.Context) Snapshot {
	snap := Snapshot{Boot: map[string]*bootsvc.Machine{}}
	at := time.Since(w.start)
	st, err := state.Load(w.Dir)
	if err != nil {
		snap.Failures = append(snap.Failures, fmt.Errorf("lab state: %w", err))
		return snap
	}
	switch {
	case st.Phase == state.Failed:
		snap.Failures = append(snap.Failures, fmt.Errorf("lab process failed: %s\n%s", st.Error, Tail(labd.ProcessLog(w.Dir), 15)))
		return snap
	case st.Pids["labd"] != 0 && !proc.Alive(st.Pids["labd"]):
		snap.Failures = append(snap.Failures, fmt.Errorf("lab process %d died:\n%s", st.Pids["labd"], Tail(labd.ProcessLog(w.Dir), 15)))
		return snap
	}
	snap.Running = st.Phase == state.Running
	snap.Steps = append(snap.Steps, w.dnsmasqSteps(at)...)
	ms, err := Machines(ctx, w.HTTP, w.Lab)
	if err != nil && snap.Running {
		snap.Failures = append(snap.Failures, err)
	}
	for _, m := range w.Lab.Machines {
		b := bootsvc.FindMachine(ms, m.MAC, m.UUID)
		snap.Boot[m.Name] = b
		if b != nil {
			for _, e := range b.Events[w.eventSeen[m.Name]:] {
				snap.Steps = append(snap.Steps, Step{m.Name, at, describe(e)})
			}
			w.eventSeen[m.Name] = len(b.Events)
		}
		if !snap.Running {
			continue
		}
		if err := w.machineFailed(ctx, m, b); err != nil {
			snap.Failures = append(snap.Failures, err)
		}
	}
	return snap
}

// machineFailed says why m failed to boot, if it did: its firmware gave up,
// or it is off without having reported to the boot service.
func (w *Watcher) machineFailed(ctx context.Context, m lab.Machine, b *bootsvc.Machine) error {
	serial := ""
	if w.Logs != nil {
		serial = w.Logs.SerialLog(w.Lab, m.Name)
		if raw, err := os.ReadFile(serial); err == nil {
			for _, s := range firmwareGaveUp {
				if strings.Contains(string(raw), s) {
					return fmt.Errorf("machine %s: firmware gave up (%q); serial log %s:\n%s", m.Name, s, serial, Tail(serial, 20))
				}
			}
		}
	}
	if Reported(b) {
		return nil
	}
	if p, err := w.Power.PowerState(ctx, w.Lab, m.Name); err == nil && p == lab.PowerOff {
		return fmt.Errorf("machine %s: powered off before it reported to the boot service; serial log %s:\n%s", m.Name, serial, Tail(serial, 20))
	}
	return nil
}

// Reported says whether the machine called home at least once.
func Reported(b *bootsvc.Machine) bool {
	if b == nil {
		return false
	}
	for _, e := range b.Events {
		if e.Kind == bootsvc.KindReport {
			return true
		}
	}
	return false
}

func describe(e bootsvc.Event) string {
	switch e.Kind {
	case bootsvc.KindReport:
		return fmt.Sprintf("report %s: %s", e.Name, e.Detail)
	case bootsvc.KindAsset:
		return fmt.Sprintf("fetched %s (%d)", e.Path, e.Status)
	}
	return fmt.Sprintf("%s script %s (%d)", e.Kind, e.Path, e.Status)
}

// dnsmasqSteps turns new DHCPACK and TFTP lines of dnsmasq's log into steps.
func (w *Watcher) dnsmasqSteps(at time.Duration) []Step {
	f, err := os.Open(labd.DnsmasqLog(w.Dir))
	if err != nil {
		return nil
	}
	defer f.Close()
	var steps []Step
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		if n <= w.dnsSeen {
			continue
		}
		line := sc.Text()
		for _, m := range w.Lab.Machines {
			mac, ip := m.MAC.String(), m.IP.String()
			switch {
			case strings.Contains(line, "DHCPACK(") && strings.Contains(line, " "+mac):
				steps = append(steps, Step{m.Name, at, "DHCP lease " + ip})
			case strings.Contains(line, "dnsmasq-tftp") && strings.Contains(line, "sent ") && strings.HasSuffix(line, " to "+ip):
				file := strings.Fields(line[strings.Index(line, "sent ")+5:])[0]
				steps = append(steps, Step{m.Name, at, "TFTP " + file})
			}
		}
	}
	w.dnsSeen = n
	return steps
}

// Tail returns the last n lines of a file, for error messages.
func Tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  | " + strings.Join(lines, "\n  | ")
}
