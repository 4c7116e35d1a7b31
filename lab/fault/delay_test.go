package fault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// deafDelayer is a provider whose delay takes no effect: what a filter on
// the wrong NIC, or one QEMU ignored, would look like from the gateway.
// (The real one, QEMU's filter-buffer, needs a VM: lab/qemu's test checks
// QEMU takes it, TestE2EEtcd3/faults that it slows a machine's link.)
type deafDelayer struct {
	set []time.Duration
}

func (*deafDelayer) Name() string                                               { return "deaf" }
func (*deafDelayer) CreateNetwork(context.Context, *lab.Lab) error              { return nil }
func (*deafDelayer) CreateMachine(context.Context, *lab.Lab, lab.Machine) error { return nil }
func (*deafDelayer) Destroy(context.Context, *lab.Lab) error                    { return nil }
func (d *deafDelayer) SetDelay(_ context.Context, _ *lab.Lab, _ string, delay time.Duration) error {
	d.set = append(d.set, delay)
	return nil
}

// TestDelayNotEffective: a delay the gateway's connections do not feel
// fails naming the machine and the times measured, and is taken off again.
func TestDelayNotEffective(t *testing.T) {
	s := newSegment(t, "a")
	p := &deafDelayer{}
	env := Env{Lab: s.lab, Shell: s, Provider: p, Probe: time.Second}
	f := scenario.Fault{Kind: scenario.FaultDelay, Machines: []string{"a"}, Delay: scenario.Duration(200 * time.Millisecond)}
	err := Inject(context.Background(), env, "delay-a", f)
	var ne *NotEffectiveError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "fault delay a up to 200ms did not take effect: connections from the gateway to a took ") ||
		!strings.Contains(err.Error(), "(median of 5): a delay of up to 200ms adds about 200ms") {
		t.Fatalf("err = %v, want a delay that did not take effect, naming the machine and the times", err)
	}
	if want := []time.Duration{200 * time.Millisecond, 0}; len(p.set) != 2 || p.set[0] != want[0] || p.set[1] != want[1] {
		t.Errorf("delays set %v, want %v (set, then taken off again)", p.set, want)
	}
}

// A provider that cannot delay frames is named in the refusal, before
// anything is probed or changed.
func TestDelayNeedsAProviderThatCan(t *testing.T) {
	l := &lab.Lab{Name: "t", Machines: []lab.Machine{{Name: "a"}}}
	env := Env{Lab: l, Provider: &noDelay{}}
	err := Inject(context.Background(), env, "delay-a", scenario.Fault{Kind: scenario.FaultDelay, Machines: []string{"a"}, Delay: scenario.Duration(100 * time.Millisecond)})
	if want := "inject delay a up to 100ms: provider plain cannot delay a machine's frames"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

type noDelay struct{}

func (*noDelay) Name() string                                               { return "plain" }
func (*noDelay) CreateNetwork(context.Context, *lab.Lab) error              { return nil }
func (*noDelay) CreateMachine(context.Context, *lab.Lab, lab.Machine) error { return nil }
func (*noDelay) Destroy(context.Context, *lab.Lab) error                    { return nil }
