package power

import "testing"

func TestParseAction(t *testing.T) {
	for _, tt := range []struct {
		in     string
		want   Action
		expect State
	}{{"on", ActionOn, On}, {"off", ActionOff, Off}, {"soft-off", ActionSoftOff, Off}, {"cycle", ActionCycle, On}, {"reset", ActionReset, On}} {
		a, err := ParseAction(tt.in)
		if err != nil || a != tt.want || a.Expect() != tt.expect {
			t.Errorf("ParseAction(%q) = %q (expects %s), %v", tt.in, a, a.Expect(), err)
		}
	}
	if _, err := ParseAction("hibernate"); err == nil || err.Error() != `power action "hibernate": want on, off, soft-off, cycle or reset` {
		t.Errorf("ParseAction(hibernate): %v", err)
	}
}

func TestBootAction(t *testing.T) {
	for s, want := range map[State]Action{Off: ActionOn, On: ActionCycle} {
		if got := BootAction(s); got != want {
			t.Errorf("BootAction(%s) = %s, want %s", s, got, want)
		}
	}
}
