package fault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netem"
	"github.com/labctl/labctl/lab/scenario"
)

// deafLinks is a lab process whose relays take no effect: what a relay on
// the wrong NIC, or redirectors QEMU ignored, would look like from the
// gateway. (The real one needs a VM: lab/qemu's and lab/libvirt's tests
// check that frames go through it, TestE2EEtcd3/faults that it slows and
// reorders a machine's link.)
type deafLinks struct {
	calls []string
}

func (d *deafLinks) Set(_ context.Context, machine string, s netem.Shape) (netem.Status, error) {
	d.calls = append(d.calls, "set "+machine)
	return netem.Status{Machine: machine, Shape: &s}, nil
}

func (d *deafLinks) Clear(_ context.Context, machine string) (netem.Status, error) {
	d.calls = append(d.calls, "clear "+machine)
	return netem.Status{Machine: machine}, nil
}

// A delay or a reorder the gateway's probes do not feel fails naming the
// machine and what was measured, and is cleared again.
func TestLinkShapeNotEffective(t *testing.T) {
	s := newSegment(t, "a")
	for _, c := range []struct {
		f    scenario.Fault
		want []string
	}{
		{
			scenario.Fault{Kind: scenario.FaultDelay, Machines: []string{"a"}, Delay: scenario.Duration(200 * time.Millisecond), Jitter: scenario.Duration(20 * time.Millisecond)},
			[]string{"fault delay a 200ms ±20ms did not take effect: connections from the gateway to a took ", "(median of 5): a delay of 200ms adds about 200ms"},
		},
		{
			scenario.Fault{Kind: scenario.FaultReorder, Machines: []string{"a"}, Percent: 25, Delay: scenario.Duration(50 * time.Millisecond)},
			[]string{"fault reorder a 25% 50ms did not take effect: 10 bursts of 50 echo requests from the gateway to a: all 500 replies came back in order"},
		},
	} {
		links := &deafLinks{}
		env := Env{Lab: s.lab, Shell: s, Links: links, Probe: time.Second}
		err := Inject(context.Background(), env, "shape-a", c.f)
		var ne *NotEffectiveError
		if !errors.As(err, &ne) {
			t.Fatalf("%s: err = %v, want one that did not take effect", c.f, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want %q", c.f, err, w)
			}
		}
		if got := strings.Join(links.calls, ", "); got != "set a, clear a" {
			t.Errorf("%s: the lab process was asked to %s; want set a, clear a", c.f, got)
		}
	}
}

// A lab without link relays (a rack's real servers) is named in the
// refusal, before anything is probed or changed.
func TestLinkShapeNeedsRelays(t *testing.T) {
	l := &lab.Lab{Name: "t", Machines: []lab.Machine{{Name: "a"}}}
	err := Inject(context.Background(), Env{Lab: l}, "delay-a", scenario.Fault{Kind: scenario.FaultDelay, Machines: []string{"a"}, Delay: scenario.Duration(100 * time.Millisecond)})
	if want := "inject delay a 100ms: no link relays (the lab's machines are not labctl's to delay)"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
