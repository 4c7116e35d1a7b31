package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bmc/protocols"
)

// newBMCCmd is `labctl bmc power|bootdev`. Credentials come only from the
// inventory's password_env / password_file: there is no flag for them.
func newBMCCmd() *cobra.Command {
	var invPath string
	cmd := &cobra.Command{
		Use:   "bmc",
		Short: "Drive servers' BMCs (IPMI, Redfish) listed in an inventory",
	}
	cmd.PersistentFlags().StringVar(&invPath, "inventory", "", "inventory file (YAML, see docs/inventory.md)")

	power := &cobra.Command{
		Use:   "power status|on|off|soft-off|cycle|reset NODE...",
		Short: "Read or change machines' power; every action is verified by reading the state back",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			clients, err := loadClients(invPath, args[1:])
			if err != nil {
				return err
			}
			if args[0] == "status" {
				return forEach(cmd.Context(), cmd.OutOrStdout(), clients, func(ctx context.Context, c *bmc.Client) (string, error) {
					st, err := c.PowerState(ctx)
					return string(st), err
				})
			}
			a, err := bmc.ParsePowerAction(args[0])
			if err != nil {
				return err
			}
			return forEach(cmd.Context(), cmd.OutOrStdout(), clients, func(ctx context.Context, c *bmc.Client) (string, error) {
				return "power " + string(a) + ": ok", c.SetPower(ctx, a)
			})
		},
	}

	var once, uefi bool
	bootdev := &cobra.Command{
		Use:   "bootdev pxe|disk [--once] [--uefi] NODE...",
		Short: "Set the device machines boot from (persistent unless --once)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := bmc.ParseBootDevice(args[0])
			if err != nil {
				return err
			}
			clients, err := loadClients(invPath, args[1:])
			if err != nil {
				return err
			}
			o := bmc.BootOptions{Persistent: !once, UEFI: uefi}
			return forEach(cmd.Context(), cmd.OutOrStdout(), clients, func(ctx context.Context, c *bmc.Client) (string, error) {
				return fmt.Sprintf("boot device %s (once=%v uefi=%v): ok", d, once, uefi), c.SetBootDevice(ctx, d, o)
			})
		},
	}
	bootdev.Flags().BoolVar(&once, "once", false, "for the next boot only")
	bootdev.Flags().BoolVar(&uefi, "uefi", false, "UEFI boot (default legacy BIOS)")
	cmd.AddCommand(power, bootdev)
	return cmd
}

func loadClients(invPath string, names []string) ([]*bmc.Client, error) {
	if invPath == "" {
		return nil, errors.New("--inventory: required")
	}
	inv, err := inventory.Load(invPath)
	if err != nil {
		return nil, err
	}
	machines, err := inv.Select(names)
	if err != nil {
		return nil, err
	}
	clients := make([]*bmc.Client, len(machines))
	for i, m := range machines {
		clients[i] = &bmc.Client{Machine: m.BMCMachine(), Dialers: protocols.Dialers()}
	}
	return clients, nil
}

// forEach runs fn for every machine concurrently, prints one line per
// machine in the order given, and fails if any machine failed.
func forEach(ctx context.Context, out io.Writer, clients []*bmc.Client, fn func(context.Context, *bmc.Client) (string, error)) error {
	msgs := make([]string, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs[i], errs[i] = fn(ctx, c)
		}()
	}
	wg.Wait()
	failed := 0
	for i, c := range clients {
		if errs[i] != nil {
			failed++
			fmt.Fprintf(out, "%s: FAILED: %v\n", c.Machine.Name, errs[i])
			continue
		}
		fmt.Fprintf(out, "%s: %s\n", c.Machine.Name, msgs[i])
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d machines failed", failed, len(clients))
	}
	return nil
}
