package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/state"
)

func newDownCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "down SCENARIO",
		Short: "Take a lab down (also after a crash): machines, network, dnsmasq, namespace, state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := control.LabName(args[0])
			err := control.Down(cmd.Context(), state.Dir(g.stateDir, name), nil)
			if errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s is not up; nothing to do\n", name)
				return nil
			}
			if err != nil {
				return fmt.Errorf("down %s: %w", name, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s is down\n", name)
			return nil
		},
	}
}
