package control

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/dashboard"
	"github.com/labctl/labctl/lab/eventlog"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// What RunSteps reports lands in the lab's event log after Converge's
// entries, on their clock, and the dashboard reads each step back: its
// fault's machines, its phases, its recovery time, its verdict, and its
// checks as the step's.
func TestStepsInEventLog(t *testing.T) {
	st, sc := pxeSmoke(t, t.TempDir(), "labctl-test-none")
	if err := state.Create(st); err != nil {
		t.Fatal(err)
	}
	zero := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	w, err := eventlog.Create(st.Lab.EventLog())
	if err != nil {
		t.Fatal(err)
	}
	w.Add(eventlog.Entry{Time: zero.Add(2 * time.Second).UTC(), At: 2 * time.Second, Machine: "uefi1", Kind: "lease", Text: "DHCP lease"})
	w.Close()
	steps := *sc
	steps.Steps = []scenario.Step{
		{Name: "cut", Fault: scenario.Fault{Kind: scenario.FaultPartition, Machines: []string{"uefi1"}}},
		{Name: "off", Fault: scenario.Fault{Kind: scenario.FaultPowerOff, Machines: []string{"bios1"}}},
		{Name: "kill", Fault: scenario.Fault{Kind: scenario.FaultKill, Machines: []string{"bios1", "uefi1"}, Unit: "x.service", Where: "test -e /x"}},
	}
	lb := &Lab{State: st, Scenario: &steps, report: &events{}}
	begin := zero.Add(30 * time.Second) // the steps' clock starts 30 s into the log's
	restore := lb.logSteps(begin, lb.Scenario)
	rep := lb.report
	rep.Step(StepEvent{Step: "cut", Fault: "partition uefi1", Phase: StepInjected, At: time.Second})
	rep.CheckResult(2*time.Second, check.Result{Check: "cut/alive", Node: "bios1", Status: check.Passed, Output: "ok"})
	rep.Step(StepEvent{Step: "cut", Fault: "partition uefi1", Phase: StepHeld, At: 2 * time.Second, Took: time.Second})
	rep.Step(StepEvent{Step: "cut", Fault: "partition uefi1", Phase: StepHealed, At: 4 * time.Second, Took: 3 * time.Second})
	rep.Step(StepEvent{Step: "cut", Fault: "partition uefi1", Phase: StepRecovered, At: 9 * time.Second, Took: 5 * time.Second})
	rep.Step(StepEvent{Step: "off", Fault: "power-off bios1", Phase: StepFailed, At: 10 * time.Second, Err: errors.New("bios1 still on")})
	// where picked uefi1 of the two: the page marks uefi1 alone.
	rep.Step(StepEvent{Step: "kill", Fault: "kill uefi1 unit x.service", Phase: StepInjected, At: 11 * time.Second, Machines: []string{"uefi1"}})
	restore()
	if _, ok := lb.report.(logged); ok {
		t.Errorf("the lab's reporter still logs after the steps")
	}

	v, err := dashboard.Read(context.Background(), st.Lab.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []dashboard.FaultStep{
		{Name: "cut", Fault: "partition uefi1", Machines: []string{"uefi1"}, Start: 31 * time.Second, End: 39 * time.Second,
			Phase: "recovered", Recovery: 5 * time.Second, Marks: []dashboard.StepMark{
				{Phase: "injected", At: 31 * time.Second}, {Phase: "held", At: 32 * time.Second, Took: time.Second},
				{Phase: "healed", At: 34 * time.Second, Took: 3 * time.Second}, {Phase: "recovered", At: 39 * time.Second, Took: 5 * time.Second}}},
		{Name: "off", Fault: "power-off bios1", Machines: []string{"bios1"}, Start: 40 * time.Second, End: 40 * time.Second,
			Phase: "failed", Reason: "bios1 still on", Marks: []dashboard.StepMark{{Phase: "failed", At: 40 * time.Second}}},
		{Name: "kill", Fault: "kill uefi1 unit x.service", Machines: []string{"uefi1"}, Start: 41 * time.Second, End: 41 * time.Second,
			Phase: "injected", Marks: []dashboard.StepMark{{Phase: "injected", At: 41 * time.Second}}},
	}
	if !reflect.DeepEqual(v.Steps, want) {
		t.Errorf("steps read back:\n%+v\nwant\n%+v", v.Steps, want)
	}
	// The dashboard's words for a step's outcome are control's.
	if got := []string{v.Steps[0].Verdict(), v.Steps[1].Verdict()}; !reflect.DeepEqual(got, []string{string(StepRecovered), string(StepFailed)}) {
		t.Errorf("verdicts %q", got)
	}
	if len(v.Checks) != 1 || v.Checks[0].Name != "cut/alive" || v.Checks[0].At != 32*time.Second {
		t.Errorf("checks read back: %+v, want cut/alive at 32s", v.Checks)
	}
	entries, _ := eventlog.Read(st.Lab.EventLog())
	if e := entries[2]; e.Kind != eventlog.KindCheck || e.Step != "cut" || !e.Time.Equal(zero.Add(32*time.Second)) {
		t.Errorf("the step's check is logged as %+v, want step cut at %s", e, zero.Add(32*time.Second))
	}
}

// RunSteps keeps its steps in the lab's event log: a step whose fault is
// refused before it touches the lab (no machine node9) is logged failed,
// with why, and the steps after it are not run (nor logged).
func TestRunStepsLogs(t *testing.T) {
	st, sc := pxeSmoke(t, t.TempDir(), "labctl-test-none")
	if err := state.Create(st); err != nil {
		t.Fatal(err)
	}
	w, err := eventlog.Create(st.Lab.EventLog())
	if err != nil {
		t.Fatal(err)
	}
	w.Add(eventlog.Entry{Time: time.Now().UTC(), Machine: "bios1", Kind: "lease", Text: "DHCP lease"})
	w.Close()
	steps := *sc
	steps.Steps = []scenario.Step{
		{Name: "off-node9", Fault: scenario.Fault{Kind: scenario.FaultPowerOff, Machines: []string{"node9"}}},
		{Name: "later", Fault: scenario.Fault{Kind: scenario.FaultPause, Machines: []string{"bios1"}}},
	}
	lb := &Lab{State: st, Scenario: &steps, report: &events{}}
	if _, err := lb.RunSteps(context.Background(), lb.Scenario); err == nil {
		t.Fatal("RunSteps passed a step on no machine")
	}
	v, err := dashboard.Read(context.Background(), st.Lab.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Steps) != 1 || v.Steps[0].Name != "off-node9" || v.Steps[0].Verdict() != "failed" ||
		!reflect.DeepEqual(v.Steps[0].Machines, []string{"node9"}) || v.Steps[0].Reason != `fault.machines: no machine named "node9"` {
		t.Errorf("steps in the event log: %+v, want off-node9 failed on node9, saying why", v.Steps)
	}
}
