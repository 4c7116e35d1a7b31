package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/reprovision"
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

// newReprovisionCmd is `labctl reprovision --inventory FILE --bootsvc URL NODE...`.
func newReprovisionCmd() *cobra.Command {
	var invPath, bootsvc string
	var timeout time.Duration
	var uefi bool
	cmd := &cobra.Command{
		Use:   "reprovision --inventory FILE --bootsvc URL NODE...",
		Short: "Boot machines from the network once, power-cycle them and wait until they fetch their config",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if bootsvc == "" {
				return errors.New("--bootsvc: required (the boot service whose /machines log shows the fetch)")
			}
			inv, err := inventory.Load(invPath)
			if err != nil {
				return err
			}
			machines, err := inv.Select(args)
			if err != nil {
				return err
			}
			var targets []reprovision.Target
			for _, m := range machines {
				targets = append(targets, reprovision.Target{
					Name: m.Name, MAC: m.MAC, UUID: m.UUID, UEFI: uefi,
					BMC: &bmc.Client{Machine: m.BMCMachine(), Dialers: protocols.Dialers()},
				})
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			w := &reprovision.BootLog{URL: bootsvc, Client: &http.Client{Timeout: 10 * time.Second}}
			failed := 0
			for _, r := range reprovision.Run(ctx, targets, w, slog.Default()) {
				if r.Err != nil {
					failed++
					fmt.Fprintf(cmd.OutOrStdout(), "%s: FAILED after %s: %v\n", r.Name, r.Duration.Round(time.Second), r.Err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: fetched its config after %s\n", r.Name, r.Duration.Round(time.Second))
			}
			if failed > 0 {
				return fmt.Errorf("reprovision: %d of %d machines failed", failed, len(targets))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&invPath, "inventory", "", "inventory file (YAML, see docs/inventory.md)")
	cmd.Flags().StringVar(&bootsvc, "bootsvc", "", "boot service base URL (its GET /machines log is watched)")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "give up on machines that have not fetched their config by then")
	cmd.Flags().BoolVar(&uefi, "uefi", false, "network boot in UEFI mode")
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
