package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/labctl/labctl/internal/junit"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/scenario"
)

// StepPhase is how far a scenario step got.
type StepPhase string

const (
	StepInjected  StepPhase = "injected"  // the fault took effect (proven)
	StepHeld      StepPhase = "held"      // the checks under the fault passed
	StepHealed    StepPhase = "healed"    // the fault is undone
	StepRecovered StepPhase = "recovered" // the recovery checks passed; Took is the recovery time
	StepFailed    StepPhase = "failed"    // Err says why
)

// StepEvent is one step's progress, at its time since the steps began.
type StepEvent struct {
	Step  string
	Fault string
	Phase StepPhase
	At    time.Duration
	Took  time.Duration // recovered: from healing to the recovery checks passing
	Err   error
	// Machines the fault acts on, once injected (with where: those it
	// picked); before, the log takes the candidates the step names.
	Machines []string
	// ByHand: a fault injected or healed by hand (labctl fault, or healed
	// by down), not by a step; Step is then the fault's id.
	ByHand bool
}

// StepResult is what became of one scenario step.
type StepResult struct {
	Name     string
	Fault    string
	Checks   []check.Result // under the fault, then after healing
	Held     time.Duration  // from the fault taking effect to its healing
	Recovery time.Duration  // from healing to the recovery checks passing
	Took     time.Duration
	NotRun   bool // an earlier step failed
	Err      error
}

// RunSteps runs the steps of sc (the lab's scenario, or one based on it:
// scenario.OnLab) in order on a converged lab: each fault injected and
// proven, its checks, its healing, its recovery checks under their
// deadline. A step that fails heals its fault and ends the run; the steps
// after it are not run. Its error names the scenario and the step.
func (lb *Lab) RunSteps(ctx context.Context, sc *scenario.Scenario) ([]StepResult, error) {
	if !sc.OnLab(lb.Scenario.Name) {
		return nil, fmt.Errorf("scenario %s: its steps run on a lab of %s, not on lab %s", sc.Name, sc.Base, lb.Name())
	}
	begin := time.Now()
	clock := func() time.Duration { return time.Since(begin) }
	defer lb.logSteps(begin, sc)() // on the lab's timeline, for the dashboard and the report
	var results []StepResult
	var failure error
	for _, s := range sc.Steps {
		if failure != nil {
			results = append(results, StepResult{Name: s.Name, Fault: s.Fault.String(), NotRun: true})
			continue
		}
		r := lb.runStep(ctx, s, clock)
		if r.Err != nil {
			failure = fmt.Errorf("scenario %s: step %s: %w", sc.Name, s.Name, r.Err)
			lb.report.Step(StepEvent{Step: s.Name, Fault: r.Fault, Phase: StepFailed, At: clock(), Err: r.Err})
		}
		results = append(results, r)
	}
	return results, failure
}

func (lb *Lab) runStep(ctx context.Context, s scenario.Step, clock func() time.Duration) (r StepResult) {
	r = StepResult{Name: s.Name, Fault: s.Fault.String()}
	begin := time.Now()
	defer func() { r.Took = time.Since(begin) }()
	var machines []string
	event := func(p StepPhase, took time.Duration) {
		lb.report.Step(StepEvent{Step: s.Name, Fault: r.Fault, Phase: p, At: clock(), Took: took, Machines: machines})
	}
	id := "step-" + s.Name
	before, err := lb.stepChecks(ctx, s.Name, s.Before, time.Duration(s.Deadline), clock)
	r.Checks = before
	if r.Err = err; err != nil {
		r.Err = fmt.Errorf("before the fault: %w", err)
		return r
	}
	injectedFault, err := lb.inject(ctx, id, s.Fault)
	if r.Err = err; err != nil {
		return r
	}
	r.Fault = injectedFault.String() // with where, the machines it picked
	machines = faultedMachines(injectedFault)
	injected := time.Now()
	event(StepInjected, 0)
	during, err := lb.stepChecks(ctx, s.Name, s.During, time.Duration(s.Deadline), clock)
	r.Checks = append(r.Checks, during...)
	if err == nil {
		event(StepHeld, time.Since(injected))
		select { // the fault lasts at least heal_after
		case <-time.After(time.Until(injected.Add(time.Duration(s.HealAfter)))):
		case <-ctx.Done():
			err = context.Cause(ctx)
		}
	}
	// Healed also when its checks failed: a failed step leaves no fault.
	_, herr := lb.heal(context.WithoutCancel(ctx), id)
	healed := time.Now()
	r.Held = healed.Sub(injected)
	if r.Err = errors.Join(err, herr); r.Err != nil {
		return r
	}
	event(StepHealed, r.Held)
	recovered, err := lb.stepChecks(ctx, s.Name, s.Recover.Checks, time.Duration(s.Recover.Deadline), clock)
	r.Checks = append(r.Checks, recovered...)
	if err != nil {
		r.Err = fmt.Errorf("not recovered within %s of healing: %w", time.Duration(s.Recover.Deadline), err)
		return r
	}
	r.Recovery = time.Since(healed)
	event(StepRecovered, r.Recovery)
	return r
}

// stepChecks runs a step's checks with the scenario's check runner,
// reporting each result at its time since the steps began.
func (lb *Lab) stepChecks(ctx context.Context, step string, checks []scenario.Check, deadline time.Duration, clock func() time.Duration) ([]check.Result, error) {
	if len(checks) == 0 {
		return nil, nil
	}
	r, err := Runner(lb.State, lb.Scenario)
	if err != nil {
		return nil, err
	}
	r.Checks, r.Deadline = checks, deadline
	r.Progress = func(res check.Result) {
		if res.Status == check.Passed || res.Status == check.Failed {
			res.Check = step + "/" + res.Check
			lb.report.CheckResult(clock(), res)
		}
	}
	results, err := r.Run(ctx)
	for i := range results {
		results[i].Check = step + "/" + results[i].Check
	}
	return results, err
}

// StepCases are step results as JUnit test cases: one per step
// ("step/NAME", its time the recovery time), then its checks.
func StepCases(suite string, steps []StepResult) []junit.Case {
	var cases []junit.Case
	for _, s := range steps {
		c := junit.Case{Name: "step/" + s.Name, Classname: suite, Time: s.Recovery,
			Output: fmt.Sprintf("fault %s held %s, recovered in %s", s.Fault, s.Held.Round(100*time.Millisecond), s.Recovery.Round(100*time.Millisecond))}
		switch {
		case s.NotRun:
			c.Skipped = &junit.Message{Message: "not run: an earlier step failed"}
		case s.Err != nil:
			c.Failure = &junit.Message{Message: s.Err.Error()}
		}
		cases = append(cases, c)
		cases = append(cases, check.JUnitCases(suite, s.Checks)...)
	}
	return cases
}
