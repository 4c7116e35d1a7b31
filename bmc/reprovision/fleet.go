package reprovision

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Outcome is a verdict's result.
type Outcome string

const (
	Passed Outcome = "passed"
	Failed Outcome = "failed"
	NotRun Outcome = "not-run" // a rolling run stopped before the machine's turn
)

// Verdict is what became of one machine: reprovisioned, then (when there
// are checks) the scenario's checks run again after it.
type Verdict struct {
	Machine  string         `json:"machine"`
	Result   Outcome        `json:"result"`
	Phase    Phase          `json:"phase"`            // the last phase reached
	Seconds  float64        `json:"duration_seconds"` // its reprovisioning and the check run after it
	Error    string         `json:"error,omitempty"`
	Checks   []CheckOutcome `json:"checks,omitempty"` // the machine's own, from the run after it
	Duration time.Duration  `json:"-"`
}

// CheckOutcome is one check on one node, as a Verifier reports it.
type CheckOutcome struct {
	Check    string        `json:"check"`
	Node     string        `json:"node"`
	Status   string        `json:"status"` // passed, failed, not-run
	Seconds  float64       `json:"duration_seconds"`
	Reason   string        `json:"reason,omitempty"`
	Output   string        `json:"-"`
	Duration time.Duration `json:"-"`
}

// CheckRun is one run of the scenario's checks, after the machines named.
type CheckRun struct {
	After    []string       `json:"after"`
	Outcomes []CheckOutcome `json:"outcomes"`
	Error    string         `json:"error,omitempty"`
}

// Verifier runs a scenario's checks again once machines are back. since
// holds every machine reprovisioned so far and when its reprovisioning
// began: reports it made before then prove nothing. The error names the
// check and node that failed.
type Verifier interface {
	Verify(ctx context.Context, since map[string]time.Time) ([]CheckOutcome, error)
}

// Hooks take machines out of service before they go and bring them back
// after (a Kubernetes node drained, then uncordoned; an etcd leader moved
// away): Before runs before a batch is reprovisioned, After once the
// batch's machines fetched their configuration, before the checks. An
// error names the machine it ran on and why.
type Hooks interface {
	Before(ctx context.Context, machines []string) error
	After(ctx context.Context, machines []string) error
}

// Plan says how a fleet is reprovisioned.
type Plan struct {
	Parallel int      // machines at once (within a batch when rolling); 0 means DefaultParallel
	Rolling  bool     // one batch at a time, checks passing again before the next
	Batch    int      // rolling: machines per batch; 0 means 1
	Verify   Verifier // nil: no checks (a rack without a scenario)
	Hooks    Hooks    // nil: machines go as they are
	Log      *slog.Logger
}

// Report is a fleet's verdicts, in the targets' order, and the check runs.
type Report struct {
	Verdicts []Verdict  `json:"machines"`
	Checks   []CheckRun `json:"checks,omitempty"`
	// Stopped says why a rolling run stopped early, naming the machine and,
	// when they failed, the check and node.
	Stopped string `json:"stopped,omitempty"`
}

// Failed counts the verdicts that are not passed.
func (r Report) Failed() int {
	n := 0
	for _, v := range r.Verdicts {
		if v.Result != Passed {
			n++
		}
	}
	return n
}

// Err is nil when every machine passed, else an error saying how many did not.
func (r Report) Err() error {
	n := r.Failed()
	switch {
	case r.Stopped != "":
		return fmt.Errorf("reprovision: %s", r.Stopped)
	case n > 0:
		return fmt.Errorf("reprovision: %d of %d machines failed", n, len(r.Verdicts))
	}
	return nil
}

// Fleet reprovisions targets as p says. Without Rolling, every machine goes
// (p.Parallel at a time) and the checks run once after all. With Rolling,
// batches go one after the other; after each, the checks must pass before
// the next goes, and the first failure (a machine's step or a check) stops
// the run, the machines after it not run.
func Fleet(ctx context.Context, targets []Target, w Waiter, p Plan) Report {
	batch := len(targets)
	if p.Rolling {
		batch = max(p.Batch, 1)
	}
	rep := Report{Verdicts: make([]Verdict, len(targets))}
	since := map[string]time.Time{}
	for lo := 0; lo < len(targets); lo += batch {
		hi := min(lo+batch, len(targets))
		var back []string // reprovisioned in this batch
		if err := before(ctx, p.Hooks, targets[lo:hi]); err != nil {
			for i, t := range targets[lo:hi] {
				rep.Verdicts[lo+i] = Verdict{Machine: t.Name, Result: Failed, Phase: PhaseLeave, Error: err.Error()}
			}
			if p.Rolling {
				rep.Stopped = "rolling stopped at " + targets[lo].Name + ": " + err.Error()
			}
		} else {
			results := Run(ctx, targets[lo:hi], w, Options{Parallel: p.Parallel, Log: p.Log})
			for i, r := range results {
				rep.Verdicts[lo+i] = verdict(r)
				if r.Err == nil {
					since[r.Name] = r.Start
					back = append(back, r.Name)
				}
			}
			if p.Rolling {
				if i := slices.IndexFunc(results, func(r Result) bool { return r.Err != nil }); i >= 0 {
					rep.Stopped = fmt.Sprintf("rolling stopped at %s: %v", results[i].Name, results[i].Err)
				}
			}
		}
		if p.Hooks != nil && len(back) > 0 {
			if err := p.Hooks.After(ctx, back); err != nil {
				fail(rep.Verdicts[lo:hi], back, PhaseRejoin, "after it came back: "+err.Error())
				if p.Rolling && rep.Stopped == "" {
					rep.Stopped = fmt.Sprintf("rolling stopped after %s: %v", strings.Join(back, ", "), err)
				}
			}
		}
		if p.Verify != nil && len(back) > 0 {
			run := verify(ctx, p.Verify, since, back, rep.Verdicts[lo:hi])
			rep.Checks = append(rep.Checks, run)
			if p.Rolling && run.Error != "" && rep.Stopped == "" {
				rep.Stopped = fmt.Sprintf("rolling stopped after %s: %s", strings.Join(back, ", "), run.Error)
			}
		}
		if rep.Stopped != "" {
			for i := hi; i < len(targets); i++ {
				rep.Verdicts[i] = Verdict{Machine: targets[i].Name, Result: NotRun, Phase: PhaseQueued,
					Error: "not reprovisioned: " + rep.Stopped}
			}
			break
		}
	}
	return rep
}

// before runs the Before hook for a batch: a machine that cannot be taken
// out of service is not reprovisioned.
func before(ctx context.Context, h Hooks, batch []Target) error {
	if h == nil {
		return nil
	}
	names := make([]string, len(batch))
	for i, t := range batch {
		names[i] = t.Name
	}
	if err := h.Before(ctx, names); err != nil {
		return fmt.Errorf("before reprovisioning: %w", err)
	}
	return nil
}

// fail marks the verdicts of the machines named failed in phase with why.
func fail(vs []Verdict, names []string, phase Phase, why string) {
	for i := range vs {
		if slices.Contains(names, vs[i].Machine) {
			vs[i].Result, vs[i].Phase, vs[i].Error = Failed, phase, why
		}
	}
}

func verdict(r Result) Verdict {
	v := Verdict{Machine: r.Name, Result: Passed, Phase: r.Phase, Duration: r.Duration, Seconds: r.Duration.Seconds()}
	if r.Err != nil {
		v.Result, v.Error = Failed, r.Err.Error()
	}
	return v
}

// verify runs the checks once after the machines in back came back, and
// adds its outcome to their verdicts (in vs): each machine keeps its own
// node's outcomes; a failed run fails every machine it followed, since the
// scenario did not converge after them, with the error naming check and node.
func verify(ctx context.Context, v Verifier, since map[string]time.Time, back []string, vs []Verdict) CheckRun {
	start := time.Now()
	outcomes, err := v.Verify(ctx, since)
	took := time.Since(start)
	run := CheckRun{After: back, Outcomes: outcomes}
	if err != nil {
		run.Error = err.Error()
	}
	for i := range vs {
		if !slices.Contains(back, vs[i].Machine) {
			continue
		}
		for _, o := range outcomes {
			if o.Node == vs[i].Machine {
				vs[i].Checks = append(vs[i].Checks, o)
			}
		}
		vs[i].Duration += took
		vs[i].Seconds = vs[i].Duration.Seconds()
	}
	if err != nil {
		fail(vs, back, PhaseChecks, "the scenario's checks after it: "+run.Error)
	}
	return run
}
