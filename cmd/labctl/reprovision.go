package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab/control"
)

// newReprovisionCmd is `labctl reprovision SCENARIO NODE...` for a lab's
// machines through their virtual BMCs (or the BMCs an inventory lists for
// them), and `labctl reprovision --inventory FILE --bootsvc URL NODE...` for
// a rack.
func newReprovisionCmd(g *globals) *cobra.Command {
	var (
		rack     control.RackOptions
		protocol string
		timeout  time.Duration
		all      bool
		output   string
		junit    string
		plan     reprovision.Plan
		uefi     bool
	)
	cmd := &cobra.Command{
		Use: "reprovision (SCENARIO | --inventory FILE --bootsvc URL) (NODE... | --all)",
		Short: "Boot machines from the network once, power-cycle them and wait until they fetch their config; " +
			"for a lab, then run the scenario's checks",
		Long: `Reprovision machines through their BMCs, --parallel at a time, and print a
verdict per machine: passed, failed or not run, the phase it reached, how
long it took and why it failed. For a lab, the scenario's checks run again
afterwards and count in each machine's verdict. --rolling goes one machine
(or --batch of them) at a time and stops at the first machine or check that
fails. The exit status is non-zero when any machine did not pass.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var protos []bmc.Protocol
			switch protocol {
			case "":
			case string(bmc.IPMI), string(bmc.Redfish):
				protos = []bmc.Protocol{bmc.Protocol(protocol)}
			default:
				return fmt.Errorf("--protocol: %q is neither ipmi nor redfish", protocol)
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			if plan.Parallel < 1 {
				return fmt.Errorf("--parallel: %d: want at least 1 machine at a time", plan.Parallel)
			}
			if cmd.Flags().Changed("batch") && !plan.Rolling {
				return errors.New("--batch: only with --rolling")
			}
			if plan.Batch < 1 {
				return fmt.Errorf("--batch: %d: want at least 1 machine per batch", plan.Batch)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out := cmd.OutOrStdout()
			var report reprovision.Report
			var scenario string // none for a rack
			if rack.BootURL != "" {
				if rack.Inventory == "" {
					return errors.New("--bootsvc: needs --inventory (the rack's machines and BMCs)")
				}
				if err := nodesOrAll(args, all); err != nil {
					return err
				}
				if plan.Rolling {
					return errors.New("--rolling: needs a lab (SCENARIO), whose checks must pass between machines; --bootsvc reprovisions a rack without checks")
				}
				rack.Protocols, rack.Plan = protos, plan
				if uefi {
					rack.Mode = power.BootModeUEFI
				}
				r, err := control.ReprovisionRack(ctx, g.printer(cmd.ErrOrStderr()), rack, args)
				if err != nil {
					return err
				}
				report = r
			} else {
				if len(args) == 0 {
					return errors.New("want SCENARIO (NODE... | --all), or --inventory FILE --bootsvc URL (NODE... | --all)")
				}
				if err := nodesOrAll(args[1:], all); err != nil {
					return err
				}
				// Check progress goes to stderr when stdout carries JSON.
				progress := out
				if output == "json" {
					progress = cmd.ErrOrStderr()
				}
				l, err := control.Open(g.stateDir, args[0], reprovisionPrinter{g.printer(progress)})
				if err != nil {
					return err
				}
				r, err := l.Reprovision(ctx, args[1:], control.ReprovisionOptions{Protocols: protos, Inventory: rack.Inventory, Plan: plan})
				if err != nil {
					return err
				}
				report, scenario = r, l.Name()
			}
			suite := strings.TrimSpace("reprovision " + scenario)
			if junit != "" {
				if err := writeReprovisionJUnit(junit, suite, report); err != nil {
					return err
				}
			}
			if output == "json" {
				if err := printJSON(out, report); err != nil {
					return err
				}
			} else {
				printReport(out, scenario, report)
			}
			return report.Err()
		},
	}
	cmd.Flags().StringVar(&rack.Inventory, "inventory", "", "inventory file (YAML, see docs/inventory.md): with --bootsvc, a rack's machines; with a lab, BMC endpoints for its machines (by name; a lab on a rack's servers uses its own inventory unless given)")
	cmd.Flags().StringVar(&rack.BootURL, "bootsvc", "", "a rack's boot service base URL (its GET /machines log is watched); needs --inventory")
	cmd.Flags().StringVar(&protocol, "protocol", "", "use only this BMC protocol: ipmi or redfish (default: every endpoint, in order)")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "give up on machines that have not fetched their config (and passed the checks) by then")
	cmd.Flags().BoolVar(&uefi, "uefi", false, "with --bootsvc: also switch the boot mode to UEFI (default: leave it; a lab knows each machine's firmware)")
	cmd.Flags().BoolVar(&all, "all", false, "every machine of the lab or inventory")
	cmd.Flags().IntVar(&plan.Parallel, "parallel", reprovision.DefaultParallel, "machines reprovisioned at once")
	cmd.Flags().BoolVar(&plan.Rolling, "rolling", false, "one batch at a time; the scenario's checks must pass again before the next; stop at the first failure")
	cmd.Flags().IntVar(&plan.Batch, "batch", 1, "with --rolling: machines per batch")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().StringVar(&junit, "junit", "", "also write the verdicts (and check results) as JUnit XML to this file")
	return cmd
}

// nodesOrAll refuses both or neither of NODE arguments and --all: a whole
// fleet is reprovisioned only when asked by name.
func nodesOrAll(nodes []string, all bool) error {
	switch {
	case all && len(nodes) > 0:
		return fmt.Errorf("--all: not with machines named (%s)", strings.Join(nodes, ", "))
	case !all && len(nodes) == 0:
		return errors.New("name the machines (NODE...) or give --all")
	}
	return nil
}

func writeReprovisionJUnit(path, suite string, r reprovision.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--junit: %w", err)
	}
	err = reprovision.WriteJUnit(f, suite, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// printReport prints one line per machine, then each run of the
// scenario's checks.
func printReport(w io.Writer, scenario string, r reprovision.Report) {
	for _, v := range r.Verdicts {
		took := v.Duration.Round(time.Second)
		switch v.Result {
		case reprovision.Passed:
			line := fmt.Sprintf("%s: passed after %s (config fetched", v.Machine, took)
			switch n := len(v.Checks); n {
			case 0:
			case 1:
				line += "; its check passed"
			default:
				line += fmt.Sprintf("; its %d checks passed", n)
			}
			fmt.Fprintln(w, line+")")
		case reprovision.NotRun:
			fmt.Fprintf(w, "%s: not run: %s\n", v.Machine, strings.TrimSpace(v.Error))
		default:
			// A BMC's error body may end in a newline: one line per machine.
			fmt.Fprintf(w, "%s: FAILED at %s after %s: %s\n", v.Machine, v.Phase, took, strings.TrimSpace(v.Error))
		}
	}
	for _, run := range r.Checks {
		after := strings.Join(run.After, ", ")
		if run.Error != "" {
			fmt.Fprintf(w, "scenario %s: checks after %s failed: %s\n", scenario, after, run.Error)
			continue
		}
		checks := map[string]bool{}
		for _, o := range run.Outcomes {
			checks[o.Check] = true
		}
		fmt.Fprintf(w, "scenario %s: all %d checks passed (%d on their nodes) after %s\n", scenario, len(checks), len(run.Outcomes), after)
	}
	if r.Stopped != "" {
		fmt.Fprintln(w, strings.TrimSpace(r.Stopped))
	}
}
