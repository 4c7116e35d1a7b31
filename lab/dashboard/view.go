// Package dashboard shows labs in a browser: a read-only web UI over every
// lab under a state directory, updated live, and the same lab page written
// as one self-contained HTML report for a test run's artifacts.
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/labctl/labctl/internal/tail"
	"github.com/labctl/labctl/lab/eventlog"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/state"
)

// Prober tells what only the running lab can (its provider and its boot
// service): the lab's health and each machine's power. It is defined here,
// where it is used; lab/control gives the one implementation.
type Prober interface {
	Probe(ctx context.Context, st *state.State) (*Probe, error)
}

// Probe is the running lab as its prober saw it.
type Probe struct {
	Phase    string   // running, or broken when Missing says what is gone
	Missing  []string // what a running lab lacks
	Machines map[string]MachineProbe
}

// MachineProbe is one machine as the running lab tells it.
type MachineProbe struct {
	Power     string
	LastEvent string // the last thing it asked or told the boot service
	IPMI      string // host:port inside the lab's namespace, "" without
	Redfish   string // its ComputerSystem's URL, "" without
}

// consoleLines is how much of each serial console a page shows.
const consoleLines = 15

// Lab is one lab as a page shows it.
type Lab struct {
	Name, Scenario, Provider, Accel string
	Phase                           string
	Created                         time.Time
	Error                           string   // why the lab process failed
	Missing                         []string // why a running lab is broken
	// Down says why the lab is no longer there (taken down, its process
	// died); the page then shows what was last seen.
	Down     string
	Machines []Machine
	Checks   []Check
	Steps    []FaultStep   // the scenario's fault steps, in the order they ran
	Scale    time.Duration // the timeline's end, the widest bar's
	Links    []Link        // the lab's logs
	Seen     time.Time     // when this was read
}

// Machine is one machine of a lab.
type Machine struct {
	Name, MAC, IP, Firmware string
	Power, LastEvent        string
	IPMI, Redfish           string
	Phase                   string // the last phase it finished, "" before its first
	Spans                   []progress.Span
	Checks                  []Check     // as marks on its timeline
	Faults                  []Fault     // marks too: what the kernel reported stuck
	Steps                   []FaultStep // the fault steps that acted on it, as bands
	Console                 string      // its serial console's tail
	ConsoleErr              string      // why the console could not be read
	ConsoleLink             string
}

// Check is one check's result on a node.
type Check struct {
	Name, Node, Status string
	At                 time.Duration
	Output, Reason     string
}

// Fault is a fault step seen on a machine's console (a CPU stall).
type Fault struct {
	At   time.Duration
	Text string
}

// FaultStep is a scenario step as the event log tells it: a fault injected
// into the lab, checked under, healed and recovered from; or a fault
// injected and healed by hand (ByHand, Name its id). It is drawn from
// whatever phases the log holds, in order, so a new kind of fault or phase
// needs nothing here.
type FaultStep struct {
	Name, Fault string
	ByHand      bool
	Machines    []string // what its fault acts on; none: the whole lab
	Marks       []StepMark
	Start, End  time.Duration // its first and last phase's times
	Phase       string        // its last phase: recovered or failed once over
	Recovery    time.Duration // from healing to its checks passing again
	Reason      string        // why it failed
}

// StepMark is one phase of a fault step.
type StepMark struct {
	Phase string
	At    time.Duration
	Took  time.Duration // what the phase measured (the fault held, the recovery)
}

// The last phases of a fault step (lab/control's StepRecovered, StepFailed),
// and of a fault by hand (StepHealed).
const (
	stepRecovered = "recovered"
	stepFailed    = "failed"
	stepHealed    = "healed"
)

// Verdict is the step's outcome in a word, or that it is still running; a
// fault by hand is healed or active.
func (s FaultStep) Verdict() string {
	if s.ByHand {
		if s.Phase == stepHealed {
			return stepHealed
		}
		return "active"
	}
	switch s.Phase {
	case stepRecovered, stepFailed:
		return s.Phase
	}
	return "running (" + s.Phase + ")"
}

// faultSteps gathers the steps' entries of the log, a step (or a fault by
// hand, apart from the steps: its id may be a step's name) at a time.
func faultSteps(entries []eventlog.Entry) []FaultStep {
	var steps []FaultStep
	type key struct {
		name   string
		byHand bool
	}
	index := map[key]int{}
	for _, e := range entries {
		if e.Kind != eventlog.KindStep {
			continue
		}
		k := key{e.Name, e.ByHand}
		i, ok := index[k]
		if !ok {
			i = len(steps)
			index[k] = i
			steps = append(steps, FaultStep{Name: e.Name, Fault: e.Text, ByHand: e.ByHand, Machines: e.Machines, Start: e.At})
		}
		s := &steps[i]
		s.Marks = append(s.Marks, StepMark{Phase: e.Status, At: e.At, Took: e.Took})
		s.End, s.Phase = e.At, e.Status
		if e.Status == stepRecovered {
			s.Recovery = e.Took
		}
		if e.Reason != "" {
			s.Reason = e.Reason
		}
	}
	return steps
}

// Link is a log a page links to.
type Link struct{ Name, Href string }

// Read reads the lab in dir: its state, its event log and its machines'
// consoles, and asks p (nil: nobody) about its power and health. A lab
// without a state file is an error matching os.ErrNotExist.
func Read(ctx context.Context, dir string, p Prober) (*Lab, error) {
	st, err := state.Load(dir)
	if err != nil {
		return nil, err
	}
	if st.Lab == nil {
		return nil, fmt.Errorf("%s: no lab recorded", filepath.Join(dir, state.FileName))
	}
	l := st.Lab
	v := &Lab{Name: l.Name, Scenario: st.Source, Provider: st.Provider, Accel: st.Accel, Phase: string(st.Phase),
		Created: st.Created, Error: st.Error, Seen: time.Now()}
	if pid := st.Pids["labd"]; pid != 0 && !proc.Alive(pid) && st.Phase != state.Failed {
		v.Down = fmt.Sprintf("its lab process (pid %d) is not running: it crashed or was killed; take it down with labctl down %s", pid, l.Name)
	}
	var probe *Probe
	if p != nil && v.Down == "" && st.Phase == state.Running {
		probe, err = p.Probe(ctx, st)
		if err != nil {
			v.Missing = append(v.Missing, err.Error())
		} else {
			v.Phase, v.Missing = probe.Phase, probe.Missing
		}
	}
	entries, err := eventlog.Read(l.EventLog())
	if err != nil {
		v.Missing = append(v.Missing, err.Error())
	}
	_, spans := progress.MachinePhases(progress.FromLog(entries))
	v.Steps = faultSteps(entries)
	for _, s := range v.Steps {
		v.Scale = max(v.Scale, s.End)
	}
	checks := map[string][]Check{}
	faults := map[string][]Fault{}
	for _, e := range entries {
		if e.Kind == progress.KindStall {
			faults[e.Machine] = append(faults[e.Machine], Fault{At: e.At, Text: e.Text})
			v.Scale = max(v.Scale, e.At)
		}
		if e.Kind != eventlog.KindCheck {
			continue
		}
		c := Check{Name: e.Name, Node: e.Machine, Status: e.Status, At: e.At, Output: e.Output, Reason: e.Reason}
		v.Checks = append(v.Checks, c)
		checks[e.Machine] = append(checks[e.Machine], c)
		v.Scale = max(v.Scale, e.At)
	}
	for _, m := range l.Machines {
		mv := Machine{Name: m.Name, MAC: m.MAC.String(), IP: m.IP.String(), Firmware: string(m.Firmware),
			Power: "unknown", Spans: spans[m.Name], Checks: checks[m.Name], Faults: faults[m.Name]}
		for _, s := range v.Steps {
			if len(s.Machines) == 0 || slices.Contains(s.Machines, m.Name) {
				mv.Steps = append(mv.Steps, s)
			}
		}
		if probe != nil {
			if mp, ok := probe.Machines[m.Name]; ok {
				mv.Power, mv.LastEvent, mv.IPMI, mv.Redfish = mp.Power, mp.LastEvent, mp.IPMI, mp.Redfish
			}
		}
		if n := len(mv.Spans); n > 0 {
			mv.Phase = mv.Spans[n-1].Name
			v.Scale = max(v.Scale, mv.Spans[n-1].End)
		}
		if mv.LastEvent == "" {
			mv.LastEvent = lastBootEvent(entries, m.Name)
		}
		serial := l.MachineFiles(m.Name).SerialLog
		if s, err := tail.Clean(serial, consoleLines); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				mv.ConsoleErr = err.Error()
			}
		} else {
			mv.Console = s
		}
		v.Machines = append(v.Machines, mv)
	}
	return v, nil
}

// lastBootEvent is the text of the machine's last step that the boot
// service saw, from the event log (when the lab cannot be asked).
func lastBootEvent(entries []eventlog.Entry, machine string) string {
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		switch e.Kind {
		case progress.KindLease, progress.KindTFTP, progress.KindStall, eventlog.KindCheck, eventlog.KindStep:
			continue
		}
		if e.Machine == machine {
			return e.Text
		}
	}
	return ""
}
