package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/lab/vm"
)

// printer renders what lab/control reports, and the hints that follow, as
// labctl's output: the one place where a lab command's progress becomes text.
type printer struct {
	mu   sync.Mutex // one line at a time: steps and checks come from several goroutines
	out  io.Writer
	log  *slog.Logger
	self string // labctl as the user runs it, in the commands hints suggest
}

func (g *globals) printer(out io.Writer) *printer {
	return &printer{out: out, log: g.logger(), self: g.self}
}

var _ control.Reporter = (*printer)(nil)

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format, args...)
}

func (p *printer) ImageBuilding(name string) { p.printf("image %s: ", name) }

func (p *printer) ImageBuilt(_, dir string, took time.Duration, err error) {
	if err != nil {
		p.printf("failed\n") // the error follows, from the command
		return
	}
	p.printf("%s (%.1fs)\n", dir, took.Seconds())
}

func (p *printer) AccelProbed(accel vm.Accel, why string) {
	p.printf("accelerator probe: %s: %s\n", accel, why)
}

func (p *printer) LabStarted(st *state.State) {
	if r := st.Lab.Rack; r != nil {
		p.printf("lab %s: %d servers of inventory %s through their BMCs, on interface %s (%s), dhcp %s, state %s\n",
			st.Lab.Name, len(st.Lab.Machines), r.Inventory, st.Lab.Network.Name, st.Lab.Network.Gateway, r.DHCP, st.Lab.Dir)
		return
	}
	p.printf("lab %s: provider %s, namespace %s, state %s\n", st.Lab.Name, st.Provider, st.Lab.Netns, st.Lab.Dir)
}

func (p *printer) Accelerator(accel string) { p.printf("accelerator: %s\n", accel) }

func (p *printer) MachineStep(s progress.Step) {
	p.printf("  %6.1fs  %-10s %s\n", s.At.Seconds(), s.Machine, s.Text)
}

func (p *printer) CheckResult(at time.Duration, res check.Result) {
	switch res.Status {
	case check.Passed:
		p.printf("  %6.1fs  %-10s check %s passed\n", at.Seconds(), res.Node, res.Check)
	case check.Failed:
		// One line: the run's error that follows has the whole reason (a
		// dead machine's console end, a command's output).
		first, _, _ := strings.Cut(res.Reason, "\n")
		p.printf("  %6.1fs  %-10s check %s FAILED: %s\n", at.Seconds(), res.Node, res.Check, first)
	}
}

func (p *printer) Step(ev control.StepEvent) {
	switch ev.Phase {
	case control.StepInjected:
		p.printf("  %6.1fs  step %s: fault %s took effect\n", ev.At.Seconds(), ev.Step, ev.Fault)
	case control.StepHeld:
		p.printf("  %6.1fs  step %s: its checks passed under the fault\n", ev.At.Seconds(), ev.Step)
	case control.StepHealed:
		p.printf("  %6.1fs  step %s: healed after %.1fs\n", ev.At.Seconds(), ev.Step, ev.Took.Seconds())
	case control.StepRecovered:
		p.printf("  %6.1fs  step %s: recovered in %.1fs\n", ev.At.Seconds(), ev.Step, ev.Took.Seconds())
	case control.StepFailed:
		first, _, _ := strings.Cut(ev.Err.Error(), "\n")
		p.printf("  %6.1fs  step %s FAILED: %s\n", ev.At.Seconds(), ev.Step, first)
	}
}

// stepsPassed ends a run of a scenario's steps in which every one passed.
func (p *printer) stepsPassed(sc *scenario.Scenario, steps []control.StepResult) {
	var recovery []string
	for _, s := range steps {
		recovery = append(recovery, fmt.Sprintf("%s %.1fs", s.Name, s.Recovery.Seconds()))
	}
	p.printf("scenario %s: all %d steps passed (recovery: %s)\n", sc.Name, len(steps), strings.Join(recovery, ", "))
}

func (p *printer) Log() *slog.Logger { return p.log }

// reprovisionPrinter shows the checks that follow a reprovisioning as
// lines of their own, not on the boot's timeline.
type reprovisionPrinter struct{ *printer }

func (p reprovisionPrinter) CheckResult(at time.Duration, res check.Result) {
	p.printf("check %s on %s: %s after %.1fs\n", res.Check, res.Node, res.Status, at.Seconds())
}

// phases shows where the boot's time went, if anything was seen.
func (p *printer) phases(s progress.Summary) {
	if line := s.String(); line != "" {
		p.printf("%s\n", line)
	}
}

// allPassed ends a run in which every check passed.
func (p *printer) allPassed(l *control.Lab, results []check.Result) {
	p.printf("%s\n", check.AllPassed(l.Scenario.Name, len(l.Scenario.Checks), results))
}

// upHints end a successful `up`: what to do with the lab now.
func (p *printer) upHints(l *control.Lab) {
	ml := l.State.Lab
	if ml.Network.SiteDHCP != "" {
		// A simulated rack: nothing of labctl's serves it yet; the operator does.
		p.printf("simulated rack %s is up: %d blank machines, the site's DHCP (%s) on namespace %s\n", ml.Name, len(ml.Machines), ml.Network.SiteDHCP, ml.Netns)
		if op := ml.Network.Operator; op.IsValid() {
			p.printf("  operator interface: %s (%s) in namespace %s\n", lab.OperatorInterface, op, ml.OperatorNetns())
		}
		p.printf("  its inventory:      %[1]s status %[2]s -o inventory\n  take it down:       %[1]s down %[2]s\n", p.self, ml.Name)
		return
	}
	if ml.Rack != nil {
		p.printf("lab %s is up on its servers and its %d checks passed (interface %s)\n", ml.Name, len(l.Scenario.Checks), ml.Network.Name)
	} else {
		p.printf("lab %s is up and its %d checks passed (namespace %s)\n", ml.Name, len(l.Scenario.Checks), ml.Netns)
	}
	if len(ml.Machines) > 0 {
		p.printf("  a shell on a node:  %s ssh %s %s\n", p.self, ml.Name, ml.Machines[0].Name)
	}
	p.printf("  status:            %[1]s status %[2]s\n  take it down:      %[1]s down %[2]s\n", p.self, ml.Name)
}

// keptHint ends `test --keep`: the lab stays up, and how to use it.
func (p *printer) keptHint(l *control.Lab) {
	p.printf("lab %s kept up (--keep): %s ssh %[1]s NODE, %[2]s down %[1]s\n", l.Name(), p.self)
}

// stillUp adds to a failed `up` that the lab stays up, and how to look at it.
func (p *printer) stillUp(err error, l *control.Lab) error {
	return fmt.Errorf("%w\n(the lab is still up for inspection: %s logs %s NODE, %[2]s down %[3]s)", err, p.self, l.Name())
}

// outcomes prints one line per machine a BMC command acted on, and fails if
// any failed.
func (p *printer) outcomes(done []control.Outcome) error {
	failed := 0
	for _, o := range done {
		if o.Err != nil {
			failed++
			p.printf("%s: FAILED: %v\n", o.Machine, o.Err)
			continue
		}
		p.printf("%s: %s\n", o.Machine, o.Message)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d machines failed", failed, len(done))
	}
	return nil
}

// flagOf is the flag that gives each input control may find missing.
var flagOf = map[string]string{"inventory": "--inventory"}

// missingFlag names, in an error from control, the flag the user left out.
func missingFlag(err error) error {
	var m *control.MissingError
	if errors.As(err, &m) {
		if flag, ok := flagOf[m.Field]; ok {
			return fmt.Errorf("%s: required", flag)
		}
	}
	return err
}
