package fault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab/scenario"
)

// deafBMC answers every request and does nothing: a BMC whose reset never
// reaches the machine.
type deafBMC struct{ actions []power.Action }

func (*deafBMC) PowerState(context.Context) (power.State, error) { return power.On, nil }
func (b *deafBMC) SetPower(_ context.Context, a power.Action) error {
	b.actions = append(b.actions, a)
	return nil
}
func (*deafBMC) SetBootDevice(context.Context, power.BootDevice, power.BootOptions) error {
	return nil
}

// A reset after which the machine's system still answers did not take
// effect: the step fails naming the machine, after the BMC was asked.
func TestResetNotEffective(t *testing.T) {
	s := newSegment(t, "a")
	bmc := &deafBMC{}
	env := Env{Lab: s.lab, Shell: s, Probe: time.Second, BMC: func(machine, protocol string) (power.Controller, error) {
		if machine != "a" || protocol != "ipmi" {
			t.Errorf("BMC of %s over %q asked for, want a's over ipmi", machine, protocol)
		}
		return bmc, nil
	}}
	err := Inject(context.Background(), env, "reset-a", scenario.Fault{Kind: scenario.FaultReset, Machines: []string{"a"}, Protocol: "ipmi"})
	var ne *NotEffectiveError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "fault reset a via ipmi did not take effect: its BMC answered, but the gateway still reaches a's port 22 10s later") {
		t.Fatalf("err = %v, want a reset that did not take effect, naming the machine", err)
	}
	if len(bmc.actions) != 1 || bmc.actions[0] != power.ActionReset {
		t.Errorf("BMC asked for %v, want one reset", bmc.actions)
	}
}
