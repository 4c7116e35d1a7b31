package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/scenario"
)

// ReprovisionOptions say how a lab's machines are reprovisioned.
type ReprovisionOptions struct {
	Protocols []bmc.Protocol // at most one: use only this protocol's endpoints
	// Inventory, if set, gives the machines' BMC endpoints (by machine
	// name, the MACs agreeing) instead of the lab's own virtual BMCs'. A
	// lab on a rack's servers uses its rack's inventory unless this is set,
	// and names its servers there as the rack does (Lab.Rack.Server).
	Inventory string
	Plan      reprovision.Plan // Parallel, Rolling, Batch; Verify is the scenario's checks
}

// Reprovision reprovisions the lab's machines through their BMCs (names
// empty: every machine), every connection made inside the lab's namespace,
// and then (for a scenario with checks) runs its checks again, reporting
// each check's result as it comes. A lab on a rack's servers goes through
// the servers' own BMCs, as its inventory lists them. Its error is bad
// input, refused before anything is touched; how the machines fared is in
// the report.
func (lb *Lab) Reprovision(ctx context.Context, names []string, o ReprovisionOptions) (reprovision.Report, error) {
	rep, st, sc := lb.report, lb.State, lb.Scenario
	l := st.Lab
	inv := BMCInventory(l, o.Protocols...)
	path := o.Inventory
	if path == "" && l.Rack != nil {
		path = l.Rack.Inventory
	}
	var rack *inventory.Inventory
	if path != "" {
		var err error
		if rack, err = inventory.Load(path); err != nil {
			return reprovision.Report{}, err
		}
	}
	if len(names) == 0 {
		for _, m := range l.Machines {
			names = append(names, m.Name)
		}
	}
	dial := netns.Dialer(l.Netns)
	var targets []reprovision.Target
	for _, name := range names {
		m, i, err := l.Machine(name)
		if err != nil {
			return reprovision.Report{}, err
		}
		server := inv[i].BMCServer()
		if rack != nil {
			if server, err = rackServer(rack, l, m, o.Protocols); err != nil {
				return reprovision.Report{}, err
			}
		}
		t := reprovision.Target{Name: m.Name, MAC: m.MAC, UUID: m.UUID, Mode: bootMode(m.Firmware == lab.UEFI),
			BMC: &bmc.Client{Server: server, Dialers: protocols.DialersVia(dial)}}
		if l.Rack != nil {
			// A server's firmware mode is its own (the rack provider leaves
			// it too), and one that lives in RAM boots the network every
			// time, as up set it: a one-time boot would leave its BIOS
			// order in charge of its next power cycle.
			t.Mode, t.EveryBoot = "", !slices.Contains(m.Boot, power.BootDisk)
		}
		targets = append(targets, t)
	}
	plan := o.Plan
	if plan.Log == nil {
		plan.Log = rep.Log()
	}
	if len(sc.Checks) > 0 {
		r, err := Runner(st, sc)
		if err != nil {
			return reprovision.Report{}, err
		}
		r.Progress = func(res check.Result) {
			if res.Status == check.Passed || res.Status == check.Failed {
				rep.CheckResult(res.Duration, res)
			}
		}
		plan.Verify = checkVerifier{r}
		if sc.Reprovision.Before != nil || sc.Reprovision.After != nil {
			plan.Hooks = scenarioHooks{r, sc.Reprovision, plan.Log}
		}
	} else if plan.Rolling {
		return reprovision.Report{}, fmt.Errorf("a rolling run: scenario %s has no checks to pass between machines", sc.Name)
	}
	return reprovision.Fleet(ctx, targets, &reprovision.FetchWaiter{Log: progress.BootLog(l)}, plan), nil
}

// rackServer is the lab machine m's BMC as the inventory lists it: by its
// name, or for a lab on a rack's servers by its server's.
func rackServer(inv *inventory.Inventory, l *lab.Lab, m lab.Machine, protos []bmc.Protocol) (bmc.Server, error) {
	name := m.Name
	if l.Rack != nil {
		name = l.Rack.Server(m.Name)
	}
	ms, err := inv.Select([]string{name})
	if err != nil {
		return bmc.Server{}, err
	}
	if ms[0].MAC.String() != m.MAC.String() {
		return bmc.Server{}, fmt.Errorf("%s: machine %s: mac %s is not the lab's %s", inv.Path, name, ms[0].MAC, m.MAC)
	}
	return endpointsOf(inv.Path, ms[0], protos)
}

// endpointsOf is m's BMC, keeping only the endpoints of protos[0] if given.
func endpointsOf(path string, m inventory.Machine, protos []bmc.Protocol) (bmc.Server, error) {
	bm := m.BMCServer()
	if len(protos) > 0 {
		bm.Endpoints = slices.DeleteFunc(slices.Clone(bm.Endpoints), func(ep bmc.Endpoint) bool { return ep.Protocol != protos[0] })
		if len(bm.Endpoints) == 0 {
			return bm, fmt.Errorf("%s: machine %s has no %s BMC endpoint", path, m.Name, protos[0])
		}
	}
	return bm, nil
}

// checkVerifier runs a scenario's checks with the check runner.
type checkVerifier struct{ r *check.Runner }

func (v checkVerifier) Verify(ctx context.Context, since map[string]time.Time) ([]reprovision.CheckOutcome, error) {
	v.r.Since = since
	results, err := v.r.Run(ctx)
	outcomes := make([]reprovision.CheckOutcome, len(results))
	for i, res := range results {
		outcomes[i] = reprovision.CheckOutcome{Check: res.Check, Node: res.Node, Status: string(res.Status),
			Reason: res.Reason, Output: res.Output, Duration: res.Duration, Seconds: res.Duration.Seconds()}
	}
	return outcomes, err
}

// scenarioHooks runs the scenario's reprovision hooks over the check
// runner's shell.
// runner's shell, logging what each said (etcdctl's "Leadership
// transferred", kubectl's "drained").
type scenarioHooks struct {
	r    *check.Runner
	spec scenario.ReprovisionSpec
	log  *slog.Logger
}

func (h scenarioHooks) Before(ctx context.Context, machines []string) error {
	return h.run(ctx, "before", h.spec.Before, machines)
}

func (h scenarioHooks) After(ctx context.Context, machines []string) error {
	return h.run(ctx, "after", h.spec.After, machines)
}

func (h scenarioHooks) run(ctx context.Context, name string, hook *scenario.Hook, machines []string) error {
	if hook == nil {
		return nil
	}
	outputs, err := check.RunHook(ctx, h.r.Shell, h.r.Lab, *hook, machines, 2*time.Second)
	for node, out := range outputs {
		h.log.Info("reprovision hook ran", "hook", name, "machines", strings.Join(machines, " "), "node", node, "output", strings.TrimSpace(out))
	}
	return err
}

// RackOptions say which of a rack's machines to reprovision, and how.
type RackOptions struct {
	Inventory string         // the inventory file
	BootURL   string         // the boot service whose machine log shows the fetch
	Protocols []bmc.Protocol // at most one: use only this protocol's endpoints
	Mode      power.BootMode // the network boot's firmware mode ("": as it is)
	Plan      reprovision.Plan
}

// bootMode is a lab machine's firmware mode: the lab knows it, and a BMC
// already in that mode is not asked to change it.
func bootMode(uefi bool) power.BootMode {
	if uefi {
		return power.BootModeUEFI
	}
	return power.BootModeLegacy
}

// ReprovisionRack reprovisions machines of an inventory through their BMCs
// (every machine when names is empty). Its error is bad input, refused
// before anything is touched; how the machines fared is in the report.
func ReprovisionRack(ctx context.Context, rep Reporter, o RackOptions, names []string) (reprovision.Report, error) {
	inv, err := inventory.Load(o.Inventory)
	if err != nil {
		return reprovision.Report{}, err
	}
	machines := inv.Machines
	if len(names) > 0 {
		if machines, err = inv.Select(names); err != nil {
			return reprovision.Report{}, err
		}
	}
	var targets []reprovision.Target
	for _, m := range machines {
		bm, err := endpointsOf(o.Inventory, m, o.Protocols)
		if err != nil {
			return reprovision.Report{}, err
		}
		targets = append(targets, reprovision.Target{Name: m.Name, MAC: m.MAC, UUID: m.UUID, Mode: o.Mode,
			BMC: &bmc.Client{Server: bm, Dialers: protocols.Dialers()}})
	}
	if o.Plan.Rolling {
		return reprovision.Report{}, errors.New("a rolling run needs a scenario's checks to pass between machines; a rack without a lab has none")
	}
	plan := o.Plan
	if plan.Log == nil {
		plan.Log = reporter(rep).Log()
	}
	log := &bootlog.Client{URL: o.BootURL, HTTP: &http.Client{Timeout: 10 * time.Second}}
	return reprovision.Fleet(ctx, targets, &reprovision.FetchWaiter{Log: log}, plan), nil
}

// BMCInventory is the lab's machines with their virtual BMC endpoints, as
// an inventory for bmc and reprovision; protocols picks the endpoints and
// their order (none: IPMI, then Redfish). Clients must dial inside l.Netns.
func BMCInventory(l *lab.Lab, protocols ...bmc.Protocol) []inventory.Machine {
	if len(protocols) == 0 {
		protocols = []bmc.Protocol{bmc.IPMI, bmc.Redfish}
	}
	ms := make([]inventory.Machine, len(l.Machines))
	for i, m := range l.Machines {
		ms[i] = inventory.Machine{Name: m.Name, MAC: m.MAC, UUID: m.UUID}
		for _, p := range protocols {
			ep := bmc.Endpoint{Protocol: p, Username: lab.BMCUsername, PasswordFile: l.BMCPasswordFile(), Timeout: 30 * time.Second}
			switch p {
			case bmc.IPMI:
				ep.Address = l.IPMIAddr(i)
			case bmc.Redfish:
				ep.Address, ep.CAFile, ep.SystemUUID = l.MachineRedfishURL(i), pki.CAFile(l.PKIDir()), m.UUID
			}
			ms[i].BMC = append(ms[i].BMC, ep)
		}
	}
	return ms
}
