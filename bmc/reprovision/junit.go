package reprovision

import (
	"fmt"
	"io"
	"strings"

	"github.com/labctl/labctl/internal/junit"
)

// WriteJUnit writes r as JUnit XML: a suite of one case per machine (named
// by suite, e.g. "reprovision etcd3"), then a suite per check run with a
// case per check and node.
func WriteJUnit(w io.Writer, suite string, r Report) error {
	machines := junit.Suite{Name: suite}
	for _, v := range r.Verdicts {
		c := junit.Case{Name: v.Machine, Classname: suite, Time: v.Duration, Output: "phase reached: " + string(v.Phase)}
		switch v.Result {
		case Passed:
		case NotRun:
			c.Skipped = &junit.Message{Message: v.Error}
		default:
			c.Failure = &junit.Message{Message: fmt.Sprintf("failed at %s", v.Phase), Body: v.Error}
		}
		machines.Cases = append(machines.Cases, c)
	}
	suites := []junit.Suite{machines}
	for _, run := range r.Checks {
		name := suite + " checks after " + strings.Join(run.After, ", ")
		s := junit.Suite{Name: name}
		for _, o := range run.Outcomes {
			c := junit.Case{Name: o.Check + "/" + o.Node, Classname: name, Time: o.Duration, Output: o.Output}
			switch o.Status {
			case string(Passed):
			case string(NotRun):
				c.Skipped = &junit.Message{Message: "not run: an earlier check failed"}
			default:
				c.Failure = &junit.Message{Message: o.Reason, Body: o.Output}
			}
			s.Cases = append(s.Cases, c)
		}
		suites = append(suites, s)
	}
	return junit.Write(w, suites...)
}
