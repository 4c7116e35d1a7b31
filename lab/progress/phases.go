package progress

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/lab/eventlog"
)

// phase is one stretch of a machine's boot, named for the step that ends it.
type phase struct {
	name  string
	ends  func(Step) bool
	last  bool   // ends with the last matching step, not the first
	after string // ends only once this phase has (the root image comes after Ignition, not the kernel)
}

// phases in the order a machine goes through them. Each ends with the first
// matching step after the previous phase ended; a phase a machine never goes
// through (pxe-smoke fetches no Ignition config) is left out for it, and its
// time counts in the next one.
var phases = []phase{
	{name: "dhcp", ends: kinds(KindLease)},                            // the firmware's DHCP lease
	{name: "ipxe", ends: kinds(bootlog.KindIPXE, bootlog.KindGRUB)},   // its boot script fetched
	{name: "kernel", ends: kinds(KindLease)},                          // kernel and initramfs fetched and started, asking DHCP again
	{name: "ignition", ends: kinds(bootlog.KindIgnition)},             // the Ignition config fetched
	{name: "root", ends: kinds(bootlog.KindAsset), after: "ignition"}, // the root image fetched
	{name: "booted", ends: report("booted")},
	{name: "installed", ends: report("installed")},
	{name: "ready", ends: report("ready")},
	{name: "checks", ends: kinds(KindCheck), last: true}, // its last check passed
}

func kinds(ks ...string) func(Step) bool {
	return func(s Step) bool { return slices.Contains(ks, s.Kind) }
}

func report(name string) func(Step) bool {
	return func(s Step) bool { return s.Kind == bootlog.KindReport && s.Name == name }
}

// PhaseTime is one phase across the machines that went through it.
type PhaseTime struct {
	Name     string
	Median   time.Duration
	Machines int // how many went through it
}

// Summary says where a lab's boot spent its time.
type Summary struct {
	Machines int // machines with at least one phase
	Phases   []PhaseTime
	Last     string        // the machine whose last phase ended last
	LastEnd  time.Duration // when it ended
}

// Span is one phase of one machine's boot: it began when the previous
// phase ended (or at the clock's start) and ended at End.
type Span struct {
	Name       string
	Start, End time.Duration
}

// MachinePhases splits each machine's steps into the phases it went
// through, in the order the machines first appear; a machine without a
// phase has none.
func MachinePhases(steps []Step) (order []string, spans map[string][]Span) {
	byMachine := map[string][]Step{}
	for _, s := range steps {
		if _, ok := byMachine[s.Machine]; !ok {
			order = append(order, s.Machine)
		}
		byMachine[s.Machine] = append(byMachine[s.Machine], s)
	}
	spans = map[string][]Span{}
	for _, m := range order {
		// Steps come from several pollers; each one's clock is the watcher's.
		ms := byMachine[m]
		slices.SortStableFunc(ms, func(a, b Step) int { return cmp.Compare(a.At, b.At) })
		var end time.Duration
		next := 0
		seen := map[string]bool{}
		for _, p := range phases {
			if p.after != "" && !seen[p.after] {
				continue
			}
			at := -1
			for j := next; j < len(ms); j++ {
				if p.ends(ms[j]) {
					at = j
					if !p.last {
						break
					}
				}
			}
			if at < 0 {
				continue
			}
			spans[m] = append(spans[m], Span{Name: p.name, Start: end, End: ms[at].At})
			end, next = ms[at].At, at+1
			seen[p.name] = true
		}
	}
	return order, spans
}

// Summarize splits each machine's steps into phases and takes, per phase,
// the median over the machines that went through it.
func Summarize(steps []Step) Summary {
	order, spans := MachinePhases(steps)
	var sum Summary
	durations := map[string][]time.Duration{}
	for _, m := range order {
		ss := spans[m]
		if len(ss) == 0 {
			continue
		}
		for _, sp := range ss {
			durations[sp.Name] = append(durations[sp.Name], sp.End-sp.Start)
		}
		sum.Machines++
		if end := ss[len(ss)-1].End; end > sum.LastEnd || sum.Last == "" {
			sum.Last, sum.LastEnd = m, end
		}
	}
	for _, p := range phases {
		if ds := durations[p.name]; len(ds) > 0 {
			sum.Phases = append(sum.Phases, PhaseTime{Name: p.name, Median: median(ds), Machines: len(ds)})
		}
	}
	return sum
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

// String is the summary as one line, e.g. "phases (median of 3 machines):
// dhcp 5.8s, ipxe 13.2s, ...; last done: node2 at 180.2s"; empty when no
// phase was seen.
func (s Summary) String() string {
	if len(s.Phases) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phases (median of %d machine%s):", s.Machines, plural(s.Machines))
	for i, p := range s.Phases {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(&b, "%s %s %.1fs", sep, p.Name, p.Median.Seconds())
		if p.Machines < s.Machines {
			fmt.Fprintf(&b, " (%d of %d)", p.Machines, s.Machines)
		}
	}
	fmt.Fprintf(&b, "; last done: %s at %.1fs", s.Last, s.LastEnd.Seconds())
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Timeline collects steps from several goroutines (the watcher, the check
// runner).
type Timeline struct {
	mu    sync.Mutex
	steps []Step
}

// Add appends steps.
func (t *Timeline) Add(steps ...Step) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.steps = append(t.steps, steps...)
}

// Summary summarizes the steps added so far.
func (t *Timeline) Summary() Summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Summarize(t.steps)
}

// FromLog are the entries of a lab's event log as steps: the machines'
// steps and the convergence checks that passed, on the log's clock (the
// scenario's fault steps and their checks come after the boot's phases).
func FromLog(entries []eventlog.Entry) []Step {
	steps := make([]Step, 0, len(entries))
	for _, e := range entries {
		kind := e.Kind
		switch {
		case kind == eventlog.KindStep:
			continue
		case kind == eventlog.KindCheck:
			if e.Status != eventlog.StatusPassed || e.Step != "" {
				continue
			}
			kind = KindCheck
		}
		steps = append(steps, Step{Machine: e.Machine, At: e.At, Text: e.Text, Kind: kind, Name: e.Name})
	}
	return steps
}
