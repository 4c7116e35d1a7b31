package control

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/power"
	"github.com/labctl/labctl/scenarios"
	"github.com/labctl/labctl/scenarios/check"
)

// Reprovision reprovisions a running lab's machines through their virtual
// BMCs, every connection made inside the lab's namespace (protos picks the
// BMC protocols; none: every endpoint in order), and prints one line per
// machine to out. When all fetched their config and the scenario has
// checks, it then runs them, printing each result.
func Reprovision(ctx context.Context, out io.Writer, st *state.State, names []string, protos []bmc.Protocol) error {
	l := st.Lab
	sc, err := scenarios.Find(st.Source)
	if err != nil {
		return err
	}
	inv := BMCInventory(l, protos...)
	dial := netns.Dialer(l.Netns)
	var targets []reprovision.Target
	since := map[string]time.Time{}
	for _, name := range names {
		m, i, err := l.MachineByName(name)
		if err != nil {
			return err
		}
		targets = append(targets, reprovision.Target{Name: m.Name, MAC: m.MAC, UUID: m.UUID, Mode: bootMode(m.Firmware == lab.UEFI),
			BMC: &bmc.Client{Server: inv[i].BMCServer(), Dialers: protocols.DialersVia(dial)}})
		since[name] = time.Now()
	}
	results := reprovision.Run(ctx, targets, &reprovision.FetchWaiter{Log: progress.BootLog(l)}, slog.Default())
	if err := printResults(out, results); err != nil || len(sc.Checks) == 0 {
		return err
	}
	r, err := Runner(st, sc)
	if err != nil {
		return err
	}
	r.Since = since
	r.Progress = func(res check.Result) {
		if res.Status == check.Passed || res.Status == check.Failed {
			fmt.Fprintf(out, "check %s on %s: %s after %.1fs\n", res.Check, res.Node, res.Status, res.Duration.Seconds())
		}
	}
	checked, err := r.Run(ctx)
	if err != nil {
		return fmt.Errorf("scenario %s after reprovisioning: %w", sc.Name, err)
	}
	fmt.Fprintln(out, check.AllPassed(sc.Name, len(sc.Checks), checked))
	return nil
}

// RackOptions say which of a rack's machines to reprovision, and how.
type RackOptions struct {
	Inventory string         // the inventory file
	BootURL   string         // the boot service whose machine log shows the fetch
	Protocols []bmc.Protocol // at most one: use only this protocol's endpoints
	Mode      power.BootMode // the network boot's firmware mode ("": as it is)
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
// and prints one line per machine to out.
func ReprovisionRack(ctx context.Context, out io.Writer, o RackOptions, names []string) error {
	inv, err := inventory.Load(o.Inventory)
	if err != nil {
		return err
	}
	machines, err := inv.Select(names)
	if err != nil {
		return err
	}
	var targets []reprovision.Target
	for _, m := range machines {
		bm := m.BMCServer()
		if len(o.Protocols) > 0 {
			bm.Endpoints = slices.DeleteFunc(slices.Clone(bm.Endpoints), func(ep bmc.Endpoint) bool { return ep.Protocol != o.Protocols[0] })
			if len(bm.Endpoints) == 0 {
				return fmt.Errorf("%s: machine %s has no %s BMC endpoint", o.Inventory, m.Name, o.Protocols[0])
			}
		}
		targets = append(targets, reprovision.Target{Name: m.Name, MAC: m.MAC, UUID: m.UUID, Mode: o.Mode,
			BMC: &bmc.Client{Server: bm, Dialers: protocols.Dialers()}})
	}
	log := &bootlog.Client{URL: o.BootURL, HTTP: &http.Client{Timeout: 10 * time.Second}}
	return printResults(out, reprovision.Run(ctx, targets, &reprovision.FetchWaiter{Log: log}, slog.Default()))
}

// printResults prints one line per machine and fails if any machine failed.
func printResults(out io.Writer, results []reprovision.Result) error {
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			fmt.Fprintf(out, "%s: FAILED after %s: %v\n", r.Name, r.Duration.Round(time.Second), r.Err)
			continue
		}
		fmt.Fprintf(out, "%s: fetched its config after %s\n", r.Name, r.Duration.Round(time.Second))
	}
	if failed > 0 {
		return fmt.Errorf("reprovision: %d of %d machines failed", failed, len(results))
	}
	return nil
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
				ep.Address, ep.CAFile, ep.SystemUUID = l.MachineRedfishURL(i), l.BMCCAFile(), m.UUID
			}
			ms[i].BMC = append(ms[i].BMC, ep)
		}
	}
	return ms
}
