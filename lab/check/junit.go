package check

import (
	"cmp"
	"fmt"
	"io"

	"github.com/labctl/labctl/internal/junit"
)

// JUnitCases are results as JUnit test cases, one per check and node, in
// the named suite (the scenario).
func JUnitCases(suite string, results []Result) []junit.Case {
	var cases []junit.Case
	for _, r := range results {
		c := junit.Case{Name: fmt.Sprintf("%s/%s", r.Check, r.Node), Classname: suite, Time: r.Duration, Output: r.Output}
		switch r.Status {
		case Passed:
		case NotRun:
			c.Skipped = &junit.Message{Message: cmp.Or(r.Reason, "not run: an earlier check failed")}
		default:
			c.Failure = &junit.Message{Message: r.Reason, Body: r.Output}
		}
		cases = append(cases, c)
	}
	return cases
}

// WriteJUnit writes results as a JUnit XML report for the named suite
// (the scenario).
func WriteJUnit(w io.Writer, suite string, results []Result) error {
	return junit.Write(w, junit.Suite{Name: suite, Cases: JUnitCases(suite, results)})
}
