package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/labd"
)

func newConsoleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "console SCENARIO NODE",
		Short: "Attach to a machine's serial console (end with ^D or ^C)",
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
				return fmt.Errorf("provider %s has no console socket", st.Provider)
			}
			// A unix socket: a file, not part of any network namespace.
			conn, err := net.Dial("unix", c.ConsoleSocket(st.Lab, args[1]))
			if err != nil {
				return fmt.Errorf("console of %s: %w (is it powered on?)", args[1], err)
			}
			defer conn.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "connected to the serial console of %s\n", args[1])
			go io.Copy(conn, os.Stdin)
			_, err = io.Copy(cmd.OutOrStdout(), conn)
			return err
		},
	}
}
