package control

import (
	"errors"
	"testing"
	"time"

	"github.com/labctl/labctl/lab/check"
)

// TestStepCases: each step is a JUnit case timed by its recovery, failed
// or skipped as it went, followed by its checks' cases.
func TestStepCases(t *testing.T) {
	steps := []StepResult{
		{Name: "cut", Fault: "partition node3", Held: 4 * time.Second, Recovery: 7 * time.Second,
			Checks: []check.Result{{Check: "cut/writes", Node: "node1", Status: check.Passed}}},
		{Name: "freeze", Fault: "pause node2", Err: errors.New("not recovered within 1m0s of healing")},
		{Name: "off", Fault: "power-off node1", NotRun: true},
	}
	cases := StepCases("etcd3", steps)
	tests := []struct {
		name             string
		time             time.Duration
		failure, skipped bool
		outputOrMessage  string
	}{
		{"step/cut", 7 * time.Second, false, false, "fault partition node3 held 4s, recovered in 7s"},
		{"cut/writes/node1", 0, false, false, ""},
		{"step/freeze", 0, true, false, "not recovered within 1m0s of healing"},
		{"step/off", 0, false, true, "not run: an earlier step failed"},
	}
	if len(cases) != len(tests) {
		t.Fatalf("%d cases, want %d: %+v", len(cases), len(tests), cases)
	}
	for i, tt := range tests {
		c := cases[i]
		if c.Name != tt.name || c.Classname != "etcd3" || c.Time != tt.time || (c.Failure != nil) != tt.failure || (c.Skipped != nil) != tt.skipped {
			t.Errorf("case %d = %+v, want %s (time %s, failure %v, skipped %v)", i, c, tt.name, tt.time, tt.failure, tt.skipped)
			continue
		}
		got := c.Output
		switch {
		case c.Failure != nil:
			got = c.Failure.Message
		case c.Skipped != nil:
			got = c.Skipped.Message
		}
		if got != tt.outputOrMessage {
			t.Errorf("case %s says %q, want %q", c.Name, got, tt.outputOrMessage)
		}
	}
}
