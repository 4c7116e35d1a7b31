package junit_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/junit"
)

// The document parses back with the counts CI reads from the suite's
// attributes, computed from its cases.
func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	err := junit.Write(&buf,
		junit.Suite{Name: "a", Cases: []junit.Case{
			{Name: "ok", Classname: "a", Time: 1500 * time.Millisecond, Output: "fine"},
			{Name: "bad", Classname: "a", Time: time.Second, Failure: &junit.Message{Message: "broke <here>", Body: "details"}},
			{Name: "later", Classname: "a", Skipped: &junit.Message{Message: "not run"}},
		}},
		junit.Suite{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name     string  `xml:"name,attr"`
			Tests    int     `xml:"tests,attr"`
			Failures int     `xml:"failures,attr"`
			Skipped  int     `xml:"skipped,attr"`
			Time     float64 `xml:"time,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Out string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("does not parse: %v\n%s", err, buf.String())
	}
	if !strings.HasPrefix(buf.String(), xml.Header) {
		t.Errorf("no XML header")
	}
	if len(doc.Suites) != 2 {
		t.Fatalf("%d suites, want 2", len(doc.Suites))
	}
	a := doc.Suites[0]
	if a.Name != "a" || a.Tests != 3 || a.Failures != 1 || a.Skipped != 1 || a.Time != 2.5 {
		t.Errorf("suite a: %+v", a)
	}
	if a.Cases[1].Failure == nil || a.Cases[1].Failure.Message != "broke <here>" || a.Cases[0].Out != "fine" {
		t.Errorf("cases: %+v", a.Cases)
	}
	if b := doc.Suites[1]; b.Name != "b" || b.Tests != 0 {
		t.Errorf("suite b: %+v", b)
	}
}
