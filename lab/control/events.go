package control

import (
	"errors"
	"strings"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/eventlog"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/scenario"
)

// logged is a Reporter that also keeps each step and check result in the
// lab's event log, for the dashboard and the test report.
type logged struct {
	Reporter
	log *eventlog.Writer
	// offset is added to the times it is told: the scenario steps' clock
	// starts after Converge's, which is the log's.
	offset time.Duration
	// faulted are the machines each scenario step's fault names, by step
	// (with where: the candidates, until the fault picks among them).
	faulted map[string][]string
}

func (r logged) add(e eventlog.Entry) {
	if err := r.write(e); err != nil {
		r.Log().Warn("event log", "err", err)
	}
}

// write appends e at its time on the log's clock.
func (r logged) write(e eventlog.Entry) error {
	e.At += r.offset
	e.Time = r.log.Start().Add(e.At).UTC()
	return r.log.Add(e)
}

func (r logged) MachineStep(s progress.Step) {
	r.add(eventlog.Entry{At: s.At, Machine: s.Machine, Kind: s.Kind, Name: s.Name, Text: s.Text})
	r.Reporter.MachineStep(s)
}

func (r logged) CheckResult(at time.Duration, res check.Result) {
	e := eventlog.Entry{At: at, Machine: res.Node, Kind: eventlog.KindCheck, Name: res.Check,
		Status: string(res.Status), Output: res.Output, Reason: res.Reason}
	// A step's checks are named STEP/CHECK (stepChecks).
	if step, _, ok := strings.Cut(res.Check, "/"); ok {
		if _, known := r.faulted[step]; known {
			e.Step = step
		}
	}
	r.add(e)
	r.Reporter.CheckResult(at, res)
}

func (r logged) Step(ev StepEvent) {
	e := stepEntry(ev)
	if len(e.Machines) == 0 {
		e.Machines = r.faulted[ev.Step]
	}
	r.add(e)
	r.Reporter.Step(ev)
}

// stepEntry is a step's phase, or a fault's by hand, as the log keeps it.
func stepEntry(ev StepEvent) eventlog.Entry {
	e := eventlog.Entry{At: ev.At, Kind: eventlog.KindStep, Name: ev.Step, Status: string(ev.Phase), Text: ev.Fault,
		Took: ev.Took, Machines: ev.Machines, ByHand: ev.ByHand}
	if ev.Err != nil {
		e.Reason = ev.Err.Error()
	}
	return e
}

// logSteps has the lab's reporter also keep the scenario's steps, begun
// at begin, in the lab's event log after what Converge kept there, until
// the function it returns is called. Without the log they are only reported.
func (lb *Lab) logSteps(begin time.Time, sc *scenario.Scenario) (restore func()) {
	w, err := eventlog.Append(lb.State.Lab.EventLog())
	if err != nil {
		lb.report.Log().Warn("the steps are not in the event log", "err", err)
		return func() {}
	}
	faulted := map[string][]string{}
	for _, s := range sc.Steps {
		faulted[s.Name] = faultedMachines(s.Fault)
	}
	plain := lb.report
	lb.report = logged{Reporter: plain, log: w, offset: begin.Sub(w.Start()), faulted: faulted}
	return func() {
		lb.report = plain
		w.Close()
	}
}

// logFault keeps a fault injected or healed by hand (labctl fault, or
// healed by down) in l's event log, on its clock, as a step's phase is
// kept (ByHand, Step its id): the dashboard and the report draw both. Only
// the log is told: the caller reports the fault its own way.
func logFault(l *lab.Lab, ev StepEvent) error {
	w, err := eventlog.Append(l.EventLog())
	if err != nil {
		return err
	}
	ev.ByHand, ev.At = true, time.Since(w.Start())
	return errors.Join(logged{log: w}.write(stepEntry(ev)), w.Close())
}

// faultedMachines are the machines f names, alone or in its groups.
func faultedMachines(f scenario.Fault) []string {
	ms := append([]string(nil), f.Machines...)
	for _, g := range f.Groups {
		ms = append(ms, g...)
	}
	return ms
}
