package control

import (
	"log/slog"
	"time"

	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/lab/vm"
)

// Reporter is told what control does as it happens, one method per kind of
// event; control prints nothing itself. The CLI renders the events (kind's
// libraries log through an interface the same way). Its methods may be
// called from several goroutines at once.
type Reporter interface {
	// ImageBuilding: an image is being built, or looked up in the cache
	// (the first labos build takes minutes).
	ImageBuilding(name string)
	// ImageBuilt: the image is in dir, or err says why not.
	ImageBuilt(name, dir string, took time.Duration, err error)
	// AccelProbed: no accelerator was asked for; the probe chose one.
	AccelProbed(accel vm.Accel, why string)
	// LabStarted: the lab process of st runs, detached.
	LabStarted(st *state.State)
	// Accelerator: the accelerator the lab process records, once per Converge.
	Accelerator(accel string)
	// MachineStep: a machine did something (a lease, a file, a boot-service
	// request, a report, a kernel stall), at its time since Converge began.
	MachineStep(s progress.Step)
	// CheckResult: a check passed or failed on a node; at is the time since
	// Converge began, or since the checks began after reprovisioning.
	CheckResult(at time.Duration, res check.Result)
	// Step: a scenario step's fault took effect, held, was healed, the
	// lab recovered, or the step failed (after the checks, in order).
	Step(ev StepEvent)
	// Log is the logger of what control drives beneath it (providers, BMC
	// reprovisioning), and of what control works around.
	Log() *slog.Logger
}

// reporter is r, or one that reports nothing.
func reporter(r Reporter) Reporter {
	if r == nil {
		return quiet{}
	}
	return r
}

type quiet struct{}

func (quiet) ImageBuilding(string)                            {}
func (quiet) ImageBuilt(string, string, time.Duration, error) {}
func (quiet) AccelProbed(vm.Accel, string)                    {}
func (quiet) LabStarted(*state.State)                         {}
func (quiet) Accelerator(string)                              {}
func (quiet) MachineStep(progress.Step)                       {}
func (quiet) CheckResult(time.Duration, check.Result)         {}
func (quiet) Step(StepEvent)                                  {}
func (quiet) Log() *slog.Logger                               { return slog.New(slog.DiscardHandler) }

// MissingError says that a required input was not given. Field is its name
// in control's options; the CLI names the flag that gives it.
type MissingError struct{ Field string }

func (e *MissingError) Error() string { return e.Field + ": required" }
