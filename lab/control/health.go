package control

import (
	"context"
	"fmt"
	"sort"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/state"
)

// Health is a lab as it really is, beside what its state file records.
type Health struct {
	// Phase is the recorded phase, except that a lab recorded as starting or
	// running is state.Broken when any part of it is missing.
	Phase state.Phase
	// Missing names each part that should be there and is not, and how it
	// died when that is known.
	Missing []string
	// Recovered names processes that died unasked and were restarted.
	Recovered []string
	// Power is each machine's power as the provider reads it; a machine
	// whose power cannot be read is absent.
	Power map[string]power.State
}

// Assess checks that the lab process, the namespace, the recorded helper
// processes (dnsmasq, libvirtd, QEMU) and each machine really exist, so that
// a lab is reported running only when it is.
func Assess(ctx context.Context, st *state.State, prov lab.Provider) Health {
	l := st.Lab
	h := Health{Phase: st.Phase, Power: map[string]power.State{}}
	missing := func(format string, args ...any) { h.Missing = append(h.Missing, fmt.Sprintf(format, args...)) }
	if st.Phase != state.Starting && st.Phase != state.Running {
		return h // failed (Error says why) or stopping: nothing should be up
	}
	if pid := st.Pids["labd"]; !proc.Runs(pid, DaemonCommand, l.Dir) {
		missing("lab process (pid %d) is not running", pid)
	}
	if st.OwnsNetns() && !netns.Exists(l.Netns) {
		missing("network namespace %s does not exist", l.Netns)
	}
	if st.MadeOperatorNetns && !netns.Exists(l.OperatorNetns()) {
		missing("operator namespace %s does not exist", l.OperatorNetns())
	}
	roles := make([]string, 0, len(st.Pids))
	for role := range st.Pids {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		// Every helper's command line names a file in the lab's directory.
		if pid := st.Pids[role]; role != "labd" && !proc.Runs(pid, l.Dir) {
			missing("%s (pid %d) is not running", role, pid)
		}
	}
	if st.Phase == state.Running && (l.Rack == nil || l.Rack.DHCP != "none") {
		if role := l.Network.DHCPRole(); st.Pids[role] == 0 {
			missing("%s is not running", role)
		}
	}
	for role, how := range st.Exits {
		h.Recovered = append(h.Recovered, role+" "+how)
	}
	sort.Strings(h.Recovered)
	driver, _ := prov.(lab.PowerDriver)
	faults, _ := prov.(lab.FaultReporter)
	for _, m := range l.Machines {
		if driver != nil {
			if p, err := driver.PowerState(ctx, l, m.Name); err == nil {
				h.Power[m.Name] = p
			} else if st.Phase == state.Running {
				missing("machine %s: %v", m.Name, err)
			}
		}
		if faults != nil {
			if f, err := faults.MachineFault(ctx, l, m.Name); err == nil && f != "" {
				missing("machine %s: %s", m.Name, f)
			}
		}
	}
	if len(h.Missing) > 0 {
		h.Phase = state.Broken
	}
	return h
}

// List lists the labs under root, each lab that recorded starting or
// running with the phase Assess finds, so that ls says broken where status
// does.
func List(ctx context.Context, root string) ([]state.Summary, error) {
	labs, err := state.List(root)
	if err != nil {
		return nil, err
	}
	for i, sum := range labs {
		if sum.Phase != state.Starting && sum.Phase != state.Running {
			continue
		}
		st, err := state.Load(sum.Dir)
		if err != nil {
			continue
		}
		if prov, err := Provider(st); err == nil {
			labs[i].Phase = Assess(ctx, st, prov).Phase
		}
	}
	return labs, nil
}
