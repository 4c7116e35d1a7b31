package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/labd"
)

func newLogsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logs SCENARIO NODE",
		Short: "Print a machine's serial console log",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := loadLab(args[0])
			if err != nil {
				return err
			}
			if _, ok := st.Lab.Machine(args[1]); !ok {
				return fmt.Errorf("lab %s has no machine %q", st.Lab.Name, args[1])
			}
			prov, err := labd.Provider(st.Provider, slog.New(slog.NewTextHandler(io.Discard, nil)), st.Lab.Dir)
			if err != nil {
				return err
			}
			c, ok := prov.(labd.Consoles)
			if !ok {
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
