package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bootsvc/outage"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/fault"
	"github.com/labctl/labctl/lab/netem"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/sshkeys"
	"github.com/labctl/labctl/lab/state"
)

// ActiveFault is a fault injected into a lab and not yet healed.
type ActiveFault struct {
	ID    string
	Fault scenario.Fault
	Since time.Time
}

// ActiveFaults are the faults the lab's state records as injected.
func ActiveFaults(st *state.State) ([]ActiveFault, error) {
	var fs []ActiveFault
	for _, r := range st.Faults {
		var f scenario.Fault
		if err := json.Unmarshal(r.Spec, &f); err != nil {
			return nil, fmt.Errorf("lab %s: fault %s: %w", st.Lab.Name, r.ID, err)
		}
		fs = append(fs, ActiveFault{ID: r.ID, Fault: f, Since: r.Since})
	}
	return fs, nil
}

// faultEnv is what faults act through on the lab of st: SSH with the lab's
// key, the provider, the machines' virtual BMCs, all inside its namespace.
func faultEnv(st *state.State) (fault.Env, error) {
	l := st.Lab
	keys, err := sshkeys.ForLab(l)
	if err != nil {
		return fault.Env{}, err
	}
	prov, err := Provider(st)
	if err != nil {
		return fault.Env{}, err
	}
	dial := netns.Dialer(l.Netns)
	var (
		bmcFaults fault.BMCFaulter
		links     fault.LinkShaper
	)
	if l.Rack == nil {
		bmcFaults = virtual.FaultClient{Socket: l.BMCFaultSocket()}
		links = netem.Client{Socket: l.LinkFaultSocket()}
	}
	return fault.Env{
		BMCFaults:  bmcFaults,
		Links:      links,
		BootOutage: outage.Client{Socket: l.BootFaultSocket()},
		Lab:        l,
		Shell:      &check.SSH{Keys: keys, Dial: dial},
		Provider:   prov,
		BMC: func(machine, protocol string) (power.Controller, error) {
			_, i, err := l.Machine(machine)
			if err != nil {
				return nil, err
			}
			var protos []bmc.Protocol
			if protocol != "" {
				protos = append(protos, bmc.Protocol(protocol))
			}
			return &bmc.Client{Server: BMCInventory(l, protos...)[i].BMCServer(), Dialers: protocols.DialersVia(dial)}, nil
		},
	}, nil
}

// Inject injects f into the lab by hand under id, as inject does, and
// keeps in the lab's event log that it took effect (which fault, on which
// machines, when), for the dashboard's and the report's timeline.
func (lb *Lab) Inject(ctx context.Context, id string, f scenario.Fault) (scenario.Fault, error) {
	f, err := lb.inject(ctx, id, f)
	if err == nil {
		warnUnlogged(lb.report.Log(), logFault(lb.State.Lab, StepEvent{Step: id, Fault: f.String(), Phase: StepInjected, Machines: faultedMachines(f)}))
	}
	return f, err
}

// inject injects f into the lab under id, recording it in the lab's state
// first (so that down heals it whatever happens next), and returns once it
// has taken effect. A fault that fails to inject is healed and forgotten.
// It returns the fault as injected: with where, on the machines it picked.
func (lb *Lab) inject(ctx context.Context, id string, f scenario.Fault) (scenario.Fault, error) {
	if !lab.IsDNSLabel(id) {
		return f, fmt.Errorf("fault id %q: not a DNS label (lower-case letters, digits, '-')", id)
	}
	if err := scenario.CheckFault(f, lb.State.Lab); err != nil {
		return f, err
	}
	env, err := faultEnv(lb.State)
	if err != nil {
		return f, err
	}
	if f, err = fault.Pick(ctx, env, f); err != nil {
		return f, fmt.Errorf("fault %s: %w", f, err)
	}
	spec, err := json.Marshal(f)
	if err != nil {
		return f, err
	}
	dir := lb.State.Lab.Dir
	var dup bool
	err = state.Update(dir, func(s *state.State) {
		if dup = slices.ContainsFunc(s.Faults, func(r state.Fault) bool { return r.ID == id }); !dup {
			s.Faults = append(s.Faults, state.Fault{ID: id, Spec: spec, Since: time.Now().UTC(), BootPath: scenario.BootPathFault(f.Kind)})
		}
	})
	if err != nil {
		return f, err
	}
	if dup {
		return f, fmt.Errorf("lab %s: a fault %s is active already (heal it first)", lb.Name(), id)
	}
	if err := fault.Inject(ctx, env, id, f); err != nil {
		// Inject healed what it applied.
		return f, errors.Join(err, forgetFault(dir, id))
	}
	return f, nil
}

// Heal heals the lab's active fault id by hand, as heal does, and keeps
// in the lab's event log that it was healed and how long it lasted.
func (lb *Lab) Heal(ctx context.Context, id string) error {
	a, err := lb.heal(ctx, id)
	if err == nil {
		warnUnlogged(lb.report.Log(), logHealed(lb.State.Lab, a))
	}
	return err
}

// heal heals the lab's active fault id and forgets it; it returns the
// fault as it was recorded.
func (lb *Lab) heal(ctx context.Context, id string) (ActiveFault, error) {
	st, err := state.Load(lb.State.Lab.Dir)
	if err != nil {
		return ActiveFault{}, err
	}
	active, err := ActiveFaults(st)
	if err != nil {
		return ActiveFault{}, err
	}
	i := slices.IndexFunc(active, func(a ActiveFault) bool { return a.ID == id })
	if i < 0 {
		var ids []string
		for _, a := range active {
			ids = append(ids, a.ID)
		}
		return ActiveFault{}, fmt.Errorf("lab %s has no active fault %s (active: %v)", lb.Name(), id, ids)
	}
	env, err := faultEnv(st)
	if err != nil {
		return active[i], err
	}
	if err := fault.Heal(ctx, env, id, active[i].Fault); err != nil {
		return active[i], err
	}
	return active[i], forgetFault(st.Lab.Dir, id)
}

// logHealed keeps a's healing in l's event log: held since it took effect.
func logHealed(l *lab.Lab, a ActiveFault) error {
	return logFault(l, StepEvent{Step: a.ID, Fault: a.Fault.String(), Phase: StepHealed, Took: time.Since(a.Since), Machines: faultedMachines(a.Fault)})
}

// warnUnlogged logs that a fault could not be kept in the event log: the
// fault itself is injected or healed all the same.
func warnUnlogged(log *slog.Logger, err error) {
	if err != nil {
		log.Warn("the fault is not in the event log", "err", err)
	}
}

func forgetFault(dir, id string) error {
	return state.Update(dir, func(s *state.State) {
		s.Faults = slices.DeleteFunc(s.Faults, func(r state.Fault) bool { return r.ID == id })
	})
}

// healAll heals every fault st records, newest first, each given at most
// a minute (a frozen machine does not answer SSH), and keeps each healing
// in the lab's event log; it returns what failed.
func healAll(ctx context.Context, st *state.State, log *slog.Logger) error {
	active, err := ActiveFaults(st)
	if err != nil || len(active) == 0 {
		return err
	}
	env, err := faultEnv(st)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range slices.Backward(active) {
		hctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := fault.Heal(hctx, env, a.ID, a.Fault)
		cancel()
		if err == nil {
			err = forgetFault(st.Lab.Dir, a.ID)
		}
		if err == nil {
			warnUnlogged(log, logHealed(st.Lab, a))
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
