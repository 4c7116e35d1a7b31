// Package junit writes JUnit XML reports as CI systems read them: suites of
// test cases, each passed, failed or skipped. Checks and reprovisioning
// verdicts both report through it.
package junit

import (
	"encoding/xml"
	"io"
	"time"
)

// Suite is one test suite.
type Suite struct {
	Name  string
	Cases []Case
}

// Case is one test case. A case with neither Failure nor Skipped passed.
type Case struct {
	Name, Classname string
	Time            time.Duration
	Failure         *Message
	Skipped         *Message
	Output          string // system-out
}

// Message is a failure's or a skip's reason and details.
type Message struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

type xmlSuites struct {
	XMLName xml.Name   `xml:"testsuites"`
	Suites  []xmlSuite `xml:"testsuite"`
}

type xmlSuite struct {
	Name     string    `xml:"name,attr"`
	Tests    int       `xml:"tests,attr"`
	Failures int       `xml:"failures,attr"`
	Skipped  int       `xml:"skipped,attr"`
	Time     float64   `xml:"time,attr"`
	Cases    []xmlCase `xml:"testcase"`
}

type xmlCase struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      float64  `xml:"time,attr"`
	Failure   *Message `xml:"failure,omitempty"`
	Skipped   *Message `xml:"skipped,omitempty"`
	SystemOut string   `xml:"system-out,omitempty"`
}

// Write writes suites as one JUnit XML document, counting each suite's
// failures, skips and time from its cases.
func Write(w io.Writer, suites ...Suite) error {
	var doc xmlSuites
	for _, s := range suites {
		xs := xmlSuite{Name: s.Name, Tests: len(s.Cases)}
		for _, c := range s.Cases {
			xc := xmlCase{Name: c.Name, Classname: c.Classname, Time: c.Time.Seconds(), Failure: c.Failure, Skipped: c.Skipped, SystemOut: c.Output}
			if c.Failure != nil {
				xs.Failures++
			}
			if c.Skipped != nil {
				xs.Skipped++
			}
			xs.Time += xc.Time
			xs.Cases = append(xs.Cases, xc)
		}
		doc.Suites = append(doc.Suites, xs)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
