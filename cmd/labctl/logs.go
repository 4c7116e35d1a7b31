package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func newLogsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logs SCENARIO NODE",
		Short: "Print a machine's serial console log",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, c, err := machineConsoles(args[0], args[1])
			if err != nil {
				return err
			}
			if c == nil {
				return fmt.Errorf("provider %s keeps no serial log", st.Provider)
			}
			f, err := os.Open(c.SerialLog(st.Lab, args[1]))
			if err != nil {
				return fmt.Errorf("serial log of %s: %w", args[1], err)
			}
			defer f.Close()
			_, err = io.Copy(cmd.OutOrStdout(), f)
			return err
		},
	}
}
