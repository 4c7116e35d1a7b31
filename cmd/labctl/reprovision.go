package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/labd"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/scenarios"
	"github.com/labctl/labctl/scenarios/check"
)

// newReprovisionCmd is `labctl reprovision SCENARIO NODE...` for a lab's
// machines through their virtual BMCs, and `labctl reprovision --inventory
// FILE --bootsvc URL NODE...` for a rack.
func newReprovisionCmd() *cobra.Command {
	var invPath, bootsvc, protocol string
	var timeout time.Duration
	var uefi bool
	cmd := &cobra.Command{
		Use: "reprovision (SCENARIO | --inventory FILE --bootsvc URL) NODE...",
		Short: "Boot machines from the network once, power-cycle them and wait until they fetch their config; " +
			"for a lab, then run the scenario's checks",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var protos []bmc.Protocol
			switch protocol {
			case "":
			case string(bmc.IPMI), string(bmc.Redfish):
				protos = []bmc.Protocol{bmc.Protocol(protocol)}
			default:
				return fmt.Errorf("--protocol: %q is neither ipmi nor redfish", protocol)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out := cmd.OutOrStdout()
			if invPath != "" {
				targets, err := rackTargets(invPath, protos, uefi, args)
				if err != nil {
					return err
				}
				if bootsvc == "" {
					return errors.New("--bootsvc: required with --inventory (the boot service whose /machines log shows the fetch)")
				}
				w := &reprovision.BootLog{URL: bootsvc, Client: &http.Client{Timeout: 10 * time.Second}}
				return printResults(out, reprovision.Run(ctx, targets, w, slog.Default()))
			}
			if len(args) < 2 {
				return errors.New("want SCENARIO NODE... (or --inventory FILE NODE...)")
			}
			return reprovisionLab(ctx, out, args[0], args[1:], protos)
		},
	}
	cmd.Flags().StringVar(&invPath, "inventory", "", "inventory file (YAML, see docs/inventory.md); without it the first argument is a running lab's scenario")
	cmd.Flags().StringVar(&bootsvc, "bootsvc", "", "with --inventory: boot service base URL (its GET /machines log is watched)")
	cmd.Flags().StringVar(&protocol, "protocol", "", "use only this BMC protocol: ipmi or redfish (default: every endpoint, in order)")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "give up on machines that have not fetched their config by then")
	cmd.Flags().BoolVar(&uefi, "uefi", false, "with --inventory: network boot in UEFI mode (a lab knows each machine's firmware)")
	return cmd
}

func rackTargets(invPath string, protos []bmc.Protocol, uefi bool, names []string) ([]reprovision.Target, error) {
	inv, err := inventory.Load(invPath)
	if err != nil {
		return nil, err
	}
	machines, err := inv.Select(names)
	if err != nil {
		return nil, err
	}
	var targets []reprovision.Target
	for _, m := range machines {
		bm := m.BMCMachine()
		if protos != nil {
			bm.Endpoints = slices.DeleteFunc(slices.Clone(bm.Endpoints), func(ep bmc.Endpoint) bool { return ep.Protocol != protos[0] })
			if len(bm.Endpoints) == 0 {
				return nil, fmt.Errorf("%s: machine %s has no %s BMC endpoint", invPath, m.Name, protos[0])
			}
		}
		targets = append(targets, reprovision.Target{Name: m.Name, MAC: m.MAC, UUID: m.UUID, UEFI: uefi,
			BMC: &bmc.Client{Machine: bm, Dialers: protocols.Dialers()}})
	}
	return targets, nil
}

// reprovisionLab reprovisions a running lab's machines through their
// virtual BMCs, every connection made inside the lab's namespace, then runs
// the scenario's checks.
func reprovisionLab(ctx context.Context, out io.Writer, scenario string, names []string, protos []bmc.Protocol) error {
	st, err := loadLab(scenario)
	if err != nil {
		return err
	}
	l := st.Lab
	sc, err := scenarios.Find(st.Source)
	if err != nil {
		return err
	}
	var targets []reprovision.Target
	inv := labd.BMCInventory(l, protos...)
	dial := netns.Dialer(l.Netns)
	for _, name := range names {
		i := slices.IndexFunc(l.Machines, func(m lab.Machine) bool { return m.Name == name })
		if i < 0 {
			var known []string
			for _, m := range l.Machines {
				known = append(known, m.Name)
			}
			return fmt.Errorf("lab %s has no machine %q (machines: %s)", l.Name, name, strings.Join(known, ", "))
		}
		m := inv[i]
		targets = append(targets, reprovision.Target{Name: m.Name, MAC: m.MAC, UUID: m.UUID, UEFI: l.Machines[i].Firmware == lab.UEFI,
			BMC: &bmc.Client{Machine: m.BMCMachine(), Dialers: protocols.DialersVia(dial)}})
	}
	hc := progress.Client(l.Netns)
	base := "http://" + labd.BootAddr(l)
	since := map[string]time.Time{}
	for _, name := range names {
		since[name] = time.Now()
	}
	if err := printResults(out, reprovision.Run(ctx, targets, &reprovision.BootLog{URL: base, Client: hc}, slog.Default())); err != nil {
		return err
	}
	if len(sc.Checks) == 0 {
		return nil
	}
	r, err := newRunner(st, sc)
	if err != nil {
		return err
	}
	r.Since = since
	r.Progress = func(res check.Result) {
		if res.Status == check.Passed || res.Status == check.Failed {
			fmt.Fprintf(out, "check %s on %s: %s after %.1fs\n", res.Check, res.Node, res.Status, res.Duration.Seconds())
		}
	}
	if _, err := r.Run(ctx); err != nil {
		return fmt.Errorf("scenario %s after reprovisioning: %w", sc.Name, err)
	}
	fmt.Fprintf(out, "scenario %s: all %d checks passed\n", sc.Name, len(sc.Checks))
	return nil
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
