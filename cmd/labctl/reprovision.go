package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/power"
)

// newReprovisionCmd is `labctl reprovision SCENARIO NODE...` for a lab's
// machines through their virtual BMCs, and `labctl reprovision --inventory
// FILE --bootsvc URL NODE...` for a rack.
func newReprovisionCmd(g *globals) *cobra.Command {
	var rack control.RackOptions
	var uefi bool
	var protocol string
	var timeout time.Duration
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
			if rack.Inventory != "" {
				if rack.BootURL == "" {
					return errors.New("--bootsvc: required with --inventory (the boot service whose /machines log shows the fetch)")
				}
				rack.Protocols = protos
				if uefi {
					rack.Mode = power.BootModeUEFI
				}
				return control.ReprovisionRack(ctx, out, rack, args)
			}
			if len(args) < 2 {
				return errors.New("want SCENARIO NODE... (or --inventory FILE NODE...)")
			}
			st, err := control.Load(g.stateDir, args[0])
			if err != nil {
				return err
			}
			return control.Reprovision(ctx, out, st, args[1:], protos)
		},
	}
	cmd.Flags().StringVar(&rack.Inventory, "inventory", "", "inventory file (YAML, see docs/inventory.md); without it the first argument is a running lab's scenario")
	cmd.Flags().StringVar(&rack.BootURL, "bootsvc", "", "with --inventory: boot service base URL (its GET /machines log is watched)")
	cmd.Flags().StringVar(&protocol, "protocol", "", "use only this BMC protocol: ipmi or redfish (default: every endpoint, in order)")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "give up on machines that have not fetched their config by then")
	cmd.Flags().BoolVar(&uefi, "uefi", false, "with --inventory: also switch the boot mode to UEFI (default: leave it; a lab knows each machine's firmware)")
	return cmd
}
