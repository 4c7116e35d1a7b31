// Package check runs a scenario's convergence checks against a running lab:
// named conditions polled in order under one deadline, reported as they pass;
// a check's nodes are polled side by side.
package check

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// Shell runs a command on a machine (over SSH in a lab).
type Shell interface {
	Run(ctx context.Context, m lab.Machine, cmd string) (output string, exitStatus int, err error)
}

// Status is the outcome of one check on one node.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	NotRun  Status = "not-run" // an earlier check failed, or the deadline passed first
	Running Status = "running" // only in progress reports
)

// Result is one check on one node.
type Result struct {
	Check    string
	Node     string
	Status   Status
	Attempts int
	Duration time.Duration
	Output   string // the last attempt's output
	Reason   string // why the last attempt failed
}

// Runner runs checks. Shell is needed for run checks, BootLog (the boot
// service's machine log) for report checks.
type Runner struct {
	Lab      *lab.Lab
	Checks   []scenario.Check
	Deadline time.Duration // for all checks together
	Shell    Shell
	BootLog  bootlog.Reader
	// Since makes report checks count only the reports a machine (by name)
	// made from then on: after it is reprovisioned, its old ones prove nothing.
	Since map[string]time.Time
	// Interval is the pause between attempts (default 2 s).
	Interval time.Duration
	// Progress, if set, is told each result as it changes.
	Progress func(Result)
	// Alive, if set, is asked between attempts and fails the run at once
	// when it returns an error (a machine's VM died): no blind waiting.
	Alive func(ctx context.Context) error

	mu sync.Mutex // one call at a time to Progress and Alive
}

// Run runs every check in order and returns one result per check and node.
// The error names the first check and node that failed and why.
func (r *Runner) Run(ctx context.Context) ([]Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.Deadline)
	defer cancel()
	var results []Result
	var failure error
	for _, c := range r.Checks {
		var rs []Result
		if failure == nil {
			rs = r.runCheck(ctx, c)
		} else {
			for _, node := range r.nodes(c) {
				rs = append(rs, Result{Check: c.Name, Node: node.Name, Status: NotRun})
			}
		}
		for _, res := range rs {
			if failure == nil && res.Status == Failed {
				failure = fmt.Errorf("check %q on %s failed after %d attempts in %s: %s",
					c.Name, res.Node, res.Attempts, res.Duration.Round(time.Second), res.Reason)
			}
		}
		results = append(results, rs...)
	}
	return results, failure
}

// runCheck runs c on each of its nodes. Each node answers for itself, so
// they are polled side by side (under TCG each attempt takes seconds); a
// reboot check takes its nodes down one at a time, stopping at a failure.
func (r *Runner) runCheck(ctx context.Context, c scenario.Check) []Result {
	nodes := r.nodes(c)
	results := make([]Result, len(nodes))
	if c.Reboot {
		for i, m := range nodes {
			if i > 0 && results[i-1].Status != Passed {
				results[i] = Result{Check: c.Name, Node: m.Name, Status: NotRun}
				continue
			}
			results[i] = r.runOne(ctx, c, m)
		}
		return results
	}
	var wg sync.WaitGroup
	for i, m := range nodes {
		wg.Go(func() { results[i] = r.runOne(ctx, c, m) })
	}
	wg.Wait()
	return results
}

func (r *Runner) nodes(c scenario.Check) []lab.Machine {
	if len(c.Nodes) == 0 {
		return r.Lab.Machines
	}
	var ms []lab.Machine
	for _, n := range c.Nodes {
		if m, _, err := r.Lab.Machine(n); err == nil { // the scenario's validation names a missing one
			ms = append(ms, m)
		}
	}
	return ms
}

// runOne polls one check on one node until it passes or ctx ends.
func (r *Runner) runOne(ctx context.Context, c scenario.Check, m lab.Machine) Result {
	start := time.Now()
	res := Result{Check: c.Name, Node: m.Name, Status: Running}
	r.report(res)
	finish := func(s Status) Result {
		res.Status, res.Duration = s, time.Since(start)
		r.report(res)
		return res
	}
	if c.Reboot {
		if err := r.reboot(ctx, m); err != nil {
			res.Reason = err.Error()
			return finish(Failed)
		}
	}
	interval := r.Interval
	if interval == 0 {
		interval = 2 * time.Second
	}
	for {
		res.Attempts++
		out, err := r.attempt(ctx, c, m)
		if err == nil {
			res.Output, res.Reason = out, ""
			return finish(Passed)
		}
		// An attempt the deadline cut short says less than the last one
		// that ran to its end (what the output was, not "i/o timeout").
		if cutShort(ctx) && res.Reason != "" {
			res.Reason = fmt.Sprintf("%s (the attempt after it was cut short: %v)", res.Reason, err)
		} else {
			res.Output, res.Reason = out, err.Error()
		}
		if errors.Is(err, ErrHopeless) {
			return finish(Failed)
		}
		if err := r.alive(ctx); err != nil {
			res.Reason = err.Error()
			return finish(Failed)
		}
		select {
		case <-ctx.Done():
			res.Reason = fmt.Sprintf("deadline passed; last attempt: %s", res.Reason)
			return finish(Failed)
		case <-time.After(interval):
		}
	}
}

// cutShort reports whether ctx's deadline has ended an attempt. A
// connection deadline set from ctx can fire before ctx's own timer marks it
// done, so the clock is asked too (CI saw "i/o timeout" replace the reason).
func cutShort(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

func (r *Runner) attempt(ctx context.Context, c scenario.Check, m lab.Machine) (string, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(c.Timeout))
		defer cancel()
	}
	if c.Report != nil {
		return r.reported(ctx, c.Report, m)
	}
	if c.Fetched != nil {
		return r.fetched(ctx, c.Fetched, m)
	}
	if r.Shell == nil {
		return "", errors.New("no shell to run commands with")
	}
	out, status, err := r.Shell.Run(ctx, m, c.Run)
	if err != nil {
		return out, err
	}
	return out, Match(c.Expect, out, status)
}

// ErrHopeless marks a result that polling will not change: the output
// matched the check's fail_matches.
var ErrHopeless = errors.New("output matches fail_matches")

// Match says whether a command's output and exit status are what e expects.
func Match(e scenario.Expect, out string, status int) error {
	if e.FailMatches != "" {
		re, err := regexp.Compile(e.FailMatches)
		if err != nil {
			return err
		}
		if m := re.FindString(out); m != "" {
			return fmt.Errorf("%w /%s/ (%s), no use waiting: %s", ErrHopeless, e.FailMatches, m, tail(out))
		}
	}
	if status != e.ExitStatus {
		return fmt.Errorf("exit status %d, want %d; output: %s", status, e.ExitStatus, tail(out))
	}
	for _, s := range e.OutputContains {
		if !strings.Contains(out, s) {
			return fmt.Errorf("output lacks %q: %s", s, tail(out))
		}
	}
	if e.OutputMatches != "" {
		re, err := regexp.Compile(e.OutputMatches)
		if err != nil {
			return err
		}
		if !re.MatchString(out) {
			return fmt.Errorf("output does not match /%s/: %s", e.OutputMatches, tail(out))
		}
	}
	if e.OutputLines > 0 {
		n := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) != "" {
				n++
			}
		}
		if n != e.OutputLines {
			return fmt.Errorf("%d output lines, want %d: %s", n, e.OutputLines, tail(out))
		}
	}
	return nil
}

// reported passes when the boot service holds a report event from m that
// matches want.
func (r *Runner) reported(ctx context.Context, want *scenario.ReportExpect, m lab.Machine) (string, error) {
	if r.BootLog == nil {
		return "", errors.New("no boot service log to read reports from")
	}
	machines, err := r.BootLog.Records(ctx)
	if err != nil {
		return "", err
	}
	var seen []string
	for _, rec := range machines {
		if !rec.Is(m.MAC, m.UUID) {
			continue
		}
		for _, e := range rec.Events {
			if e.Kind != bootlog.KindReport || e.Time.Before(r.Since[m.Name]) {
				continue
			}
			seen = append(seen, e.Name+" "+e.Detail)
			if e.Name == want.Event && strings.Contains(e.Detail, want.DetailContains) {
				return e.Name + " " + e.Detail, nil
			}
		}
	}
	if len(seen) == 0 {
		return "", fmt.Errorf("no %q report from %s yet", want.Event, m.Name)
	}
	return strings.Join(seen, "\n"), fmt.Errorf("no %q report with %q from %s; reports: %s", want.Event, want.DetailContains, m.Name, strings.Join(seen, "; "))
}

// reboot restarts m and waits until it answers again with a new boot id.
func (r *Runner) reboot(ctx context.Context, m lab.Machine) error {
	const bootID = "cat /proc/sys/kernel/random/boot_id"
	before, _, err := r.Shell.Run(ctx, m, bootID)
	if err != nil {
		return fmt.Errorf("read boot id before reboot: %w", err)
	}
	// The connection drops as the machine goes down; that error means nothing.
	r.Shell.Run(ctx, m, "systemctl reboot")
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not come back from reboot", m.Name)
		case <-time.After(3 * time.Second):
		}
		if err := r.alive(ctx); err != nil {
			return err
		}
		after, _, err := r.Shell.Run(ctx, m, bootID)
		if err == nil && strings.TrimSpace(after) != strings.TrimSpace(before) {
			return nil
		}
	}
}

func (r *Runner) report(res Result) {
	if r.Progress != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.Progress(res)
	}
}

func (r *Runner) alive(ctx context.Context) error {
	if r.Alive == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Alive(ctx)
}

// AllPassed is the line that ends a run in which every check passed.
func AllPassed(scenario string, checks int, results []Result) string {
	return fmt.Sprintf("scenario %s: all %d checks passed (%d on their nodes)", scenario, checks, len(results))
}

// tail keeps error messages short: the end of the output is what explains.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}
