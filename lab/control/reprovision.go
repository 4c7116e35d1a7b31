package control

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/progress"
)

// Reprovision reprovisions the lab's machines through their virtual
// BMCs, every connection made inside the lab's namespace (protos picks the
// BMC protocols; none: every endpoint in order), reporting each machine's
// result. When all fetched their config and the scenario has checks,
// it then runs them, reporting each result, and returns them.
func (lb *Lab) Reprovision(ctx context.Context, names []string, protos []bmc.Protocol) ([]check.Result, error) {
	rep, st, sc := lb.report, lb.State, lb.Scenario
	l := st.Lab
	inv := BMCInventory(l, protos...)
	dial := netns.Dialer(l.Netns)
	var targets []reprovision.Target
	since := map[string]time.Time{}
	for _, name := range names {
		m, i, err := l.Machine(name)
		if err != nil {
			return nil, err
		}
		targets = append(targets, reprovision.Target{Name: m.Name, MAC: m.MAC, UUID: m.UUID, UEFI: m.Firmware == lab.UEFI,
			BMC: &bmc.Client{Server: inv[i].BMCServer(), Dialers: protocols.DialersVia(dial)}})
		since[name] = time.Now()
	}
	results := reprovision.Run(ctx, targets, &reprovision.FetchWaiter{Log: progress.BootLog(l)}, rep.Log())
	if err := reportResults(rep, results); err != nil || len(sc.Checks) == 0 {
		return nil, err
	}
	r, err := Runner(st, sc)
	if err != nil {
		return nil, err
	}
	r.Since = since
	r.Progress = func(res check.Result) {
		if res.Status == check.Passed || res.Status == check.Failed {
			rep.CheckResult(res.Duration, res)
		}
	}
	checked, err := r.Run(ctx)
	if err != nil {
		return checked, fmt.Errorf("scenario %s after reprovisioning: %w", sc.Name, err)
	}
	return checked, nil
}

// RackOptions say which of a rack's machines to reprovision, and how.
type RackOptions struct {
	Inventory string         // the inventory file
	BootURL   string         // the boot service whose machine log shows the fetch
	Protocols []bmc.Protocol // at most one: use only this protocol's endpoints
	UEFI      bool           // network boot in UEFI mode
}

// ReprovisionRack reprovisions machines of an inventory through their BMCs,
// reporting each machine's result to rep.
func ReprovisionRack(ctx context.Context, rep Reporter, o RackOptions, names []string) error {
	rep = reporter(rep)
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
		targets = append(targets, reprovision.Target{Name: m.Name, MAC: m.MAC, UUID: m.UUID, UEFI: o.UEFI,
			BMC: &bmc.Client{Server: bm, Dialers: protocols.Dialers()}})
	}
	log := &bootlog.Client{URL: o.BootURL, HTTP: &http.Client{Timeout: 10 * time.Second}}
	return reportResults(rep, reprovision.Run(ctx, targets, &reprovision.FetchWaiter{Log: log}, rep.Log()))
}

// reportResults reports each machine's result and fails if any failed.
func reportResults(rep Reporter, results []reprovision.Result) error {
	failed := 0
	for _, r := range results {
		rep.Reprovisioned(r)
		if r.Err != nil {
			failed++
		}
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
				ep.Address, ep.CAFile, ep.SystemUUID = l.RedfishURL(), pki.CAFile(l.PKIDir()), m.UUID
			}
			ms[i].BMC = append(ms[i].BMC, ep)
		}
	}
	return ms
}
