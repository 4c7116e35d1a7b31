package main

import (
	"cmp"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab/control"
)

// newBMCCmd is `labctl bmc power|bootdev`. Credentials come only from the
// inventory's password_env / password_file: there is no flag for them.
func newBMCCmd(g *globals) *cobra.Command {
	var invPath string
	cmd := &cobra.Command{
		Use:   "bmc",
		Short: "Drive servers' BMCs (IPMI, Redfish) listed in an inventory",
	}
	cmd.PersistentFlags().StringVar(&invPath, "inventory", "", "inventory file (YAML, see docs/inventory.md)")

	powerCmd := &cobra.Command{
		Use:   "power status|on|off|soft-off|cycle|reset NODE...",
		Short: "Read or change machines' power; every action is verified by reading the state back",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			clients, err := control.BMCClients(invPath, args[1:])
			if err != nil {
				return missingFlag(err)
			}
			p := g.printer(cmd.OutOrStdout())
			if args[0] == "status" {
				return p.outcomes(control.OnEach(cmd.Context(), clients, func(ctx context.Context, c *bmc.Client) (string, error) {
					st, err := c.PowerState(ctx)
					return string(st), err
				}))
			}
			a, err := power.ParseAction(args[0])
			if err != nil {
				return err
			}
			return p.outcomes(control.OnEach(cmd.Context(), clients, func(ctx context.Context, c *bmc.Client) (string, error) {
				return "power " + string(a) + ": ok", c.SetPower(ctx, a)
			}))
		},
	}

	var once, uefi, legacy bool
	var uri string
	bootdev := &cobra.Command{
		Use:   "bootdev pxe|disk|uefi-http [--uri URL] [--once] [--uefi|--legacy] NODE...",
		Short: "Set the device machines boot from (persistent unless --once)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := bmc.ParseBootDevice(args[0])
			if err != nil {
				return err
			}
			clients, err := control.BMCClients(invPath, args[1:])
			if err != nil {
				return missingFlag(err)
			}
			p := g.printer(cmd.OutOrStdout())
			if uri != "" && d != power.BootHTTP {
				return fmt.Errorf("--uri %s: a URI goes with uefi-http only, not %s", uri, args[0])
			}
			o := power.BootOptions{Persistent: !once, URI: uri}
			switch {
			case uefi && legacy:
				return fmt.Errorf("--uefi and --legacy exclude each other")
			case uefi:
				o.Mode = power.BootModeUEFI
			case legacy:
				o.Mode = power.BootModeLegacy
			}
			return p.outcomes(control.OnEach(cmd.Context(), clients, func(ctx context.Context, c *bmc.Client) (string, error) {
				applied, err := c.SetBoot(ctx, d, o)
				return fmt.Sprintf("boot device %s (once=%v mode=%s): ok", args[0], !applied.Persistent, cmp.Or(string(o.Mode), "unchanged")), err
			}))
		},
	}
	bootdev.Flags().BoolVar(&once, "once", false, "for the next boot only")
	bootdev.Flags().BoolVar(&uefi, "uefi", false, "also switch the boot mode to UEFI (default: leave the mode alone)")
	bootdev.Flags().BoolVar(&legacy, "legacy", false, "also switch the boot mode to legacy BIOS")
	bootdev.Flags().StringVar(&uri, "uri", "", "with uefi-http: the EFI binary's URL (Redfish HttpBootUri; default: the one DHCP offers)")
	cmd.AddCommand(powerCmd, bootdev)
	return cmd
}
