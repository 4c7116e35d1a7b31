package main

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/console"
	"github.com/labctl/labctl/lab/labd"
	"github.com/labctl/labctl/lab/state"
)

func newConsoleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "console SCENARIO NODE",
		Short: "Attach to a machine's serial console (detach with ^]; ends at the end of input when stdin is not a terminal)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, c, err := machineConsoles(args[0], args[1])
			if err != nil {
				return err
			}
			if c == nil {
				return fmt.Errorf("provider %s has no console socket", st.Provider)
			}
			// A unix socket: a file, not part of any network namespace.
			conn, err := net.Dial("unix", c.ConsoleSocket(st.Lab, args[1]))
			if err != nil {
				return fmt.Errorf("console of %s: %w (is it powered on?)", args[1], err)
			}
			defer conn.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "connected to the serial console of %s (detach with ^])\n", args[1])
			err = console.Attach(cmd.Context(), conn, os.Stdin, cmd.OutOrStdout())
			if errors.Is(err, console.ErrDetached) {
				fmt.Fprintf(cmd.ErrOrStderr(), "\r\ndetached from %s\n", args[1])
				return nil
			}
			return err
		},
	}
}

// machineConsoles loads the lab of scenario, checks that it has the machine
// node, and returns its provider's serial consoles: nil if it has none.
func machineConsoles(scenario, node string) (*state.State, labd.Consoles, error) {
	st, err := loadLab(scenario)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := st.Lab.Machine(node); !ok {
		return nil, nil, fmt.Errorf("lab %s has no machine %q", st.Lab.Name, node)
	}
	prov, err := labProvider(st)
	if err != nil {
		return nil, nil, err
	}
	c, _ := prov.(labd.Consoles)
	return st, c, nil
}
