package control

import (
	"context"

	"github.com/labctl/labctl/lab/dashboard"
	"github.com/labctl/labctl/lab/state"
)

// Prober tells the dashboard what LabStatus tells `labctl status`: the
// lab's health and each machine's power, last event and BMC endpoints.
type Prober struct{}

var _ dashboard.Prober = Prober{}

func (Prober) Probe(ctx context.Context, st *state.State) (*dashboard.Probe, error) {
	s, err := LabStatus(ctx, st)
	if err != nil {
		return nil, err
	}
	p := &dashboard.Probe{Phase: s.Phase, Missing: s.Missing, Machines: map[string]dashboard.MachineProbe{}}
	for _, m := range s.Machines {
		mp := dashboard.MachineProbe{Power: m.Power, LastEvent: m.LastEvent}
		if m.BMC != nil {
			mp.IPMI, mp.Redfish = m.BMC.IPMI, m.BMC.Redfish
		}
		p.Machines[m.Name] = mp
	}
	return p, nil
}
