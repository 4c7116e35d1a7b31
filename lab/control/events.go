package control

import (
	"time"

	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/eventlog"
	"github.com/labctl/labctl/lab/progress"
)

// logged is a Reporter that also keeps each step and check result in the
// lab's event log, for the dashboard and the test report.
type logged struct {
	Reporter
	log   *eventlog.Writer
	start time.Time // the steps' clock's zero
}

func (r logged) add(e eventlog.Entry) {
	e.Time = r.start.Add(e.At).UTC()
	if err := r.log.Add(e); err != nil {
		r.Log().Warn("event log", "err", err)
	}
}

func (r logged) MachineStep(s progress.Step) {
	r.add(eventlog.Entry{At: s.At, Machine: s.Machine, Kind: s.Kind, Name: s.Name, Text: s.Text})
	r.Reporter.MachineStep(s)
}

func (r logged) CheckResult(at time.Duration, res check.Result) {
	r.add(eventlog.Entry{At: at, Machine: res.Node, Kind: eventlog.KindCheck, Name: res.Check,
		Status: string(res.Status), Output: res.Output, Reason: res.Reason})
	r.Reporter.CheckResult(at, res)
}
