package check

import (
	"encoding/xml"
	"fmt"
	"io"
)

// JUnit XML as CI systems read it: one test suite, one test case per check
// and node.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes results as a JUnit XML report for the named suite
// (the scenario).
func WriteJUnit(w io.Writer, suite string, results []Result) error {
	s := junitSuite{Name: suite, Tests: len(results)}
	for _, r := range results {
		c := junitCase{
			Name:      fmt.Sprintf("%s/%s", r.Check, r.Node),
			Classname: suite,
			Time:      r.Duration.Seconds(),
			SystemOut: r.Output,
		}
		switch r.Status {
		case Passed:
		case NotRun:
			s.Skipped++
			c.Skipped = &junitMessage{Message: "not run: an earlier check failed"}
		default:
			s.Failures++
			c.Failure = &junitMessage{Message: r.Reason, Body: r.Output}
		}
		s.Time += c.Time
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
