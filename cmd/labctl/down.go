package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/state"
)

func newDownCmd(g *globals) *cobra.Command {
	var all bool
	var o control.DownOptions
	cmd := &cobra.Command{
		Use:   "down SCENARIO | down --all",
		Short: "Take a lab down (also after a crash): machines, network, dnsmasq, namespace, state",
		Args: func(cmd *cobra.Command, args []string) error {
			if all {
				return cobra.NoArgs(cmd, args)
			}
			return labArgs(g, cobra.ExactArgs(1))(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if all {
				down, err := control.DownAll(cmd.Context(), g.stateDir, g.printer(out))
				for _, dir := range down {
					fmt.Fprintf(out, "lab %s is down\n", filepath.Base(dir))
				}
				if err != nil {
					return fmt.Errorf("down --all %s: %w", g.stateDir, err)
				}
				if len(down) == 0 {
					fmt.Fprintf(out, "no lab is up in %s; nothing to do\n", g.stateDir)
				}
				return nil
			}
			name, err := control.NameOf(args[0])
			if err != nil {
				return err
			}
			err = control.DownWith(cmd.Context(), state.Dir(g.stateDir, name), g.printer(out), o)
			if errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(out, "lab %s is not up; nothing to do\n", name)
				return nil
			}
			if err != nil {
				return fmt.Errorf("down %s: %w", name, err)
			}
			fmt.Fprintf(out, "lab %s is down\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.LeavePower, "leave-power", false, "leave a rack's servers powered as they are (default: power them off through their BMCs)")
	cmd.Flags().BoolVar(&all, "all", false, "take down every lab recorded in the state directory (each from its own state: only what it made)")
	return cmd
}
