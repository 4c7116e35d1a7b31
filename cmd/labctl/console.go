package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/console"
	"github.com/labctl/labctl/lab/control"
)

func newConsoleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "console SCENARIO NODE",
		Short: "Attach to a machine's serial console (detach with ^]; ends at the end of input when stdin is not a terminal)",
		Args:  labArgs(g, cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := control.MachineFiles(g.stateDir, args[0], args[1])
			if err != nil {
				return err
			}
			// A unix socket: a file, not part of any network namespace.
			conn, err := net.Dial("unix", f.Console)
			if err != nil {
				return fmt.Errorf("console of %s: %w (is it powered on?)", args[1], err)
			}
			defer conn.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "connected to the serial console of %s (detach with ^])\n", args[1])
			err = console.Attach(cmd.Context(), conn, os.Stdin, cmd.OutOrStdout())
			switch {
			case errors.Is(err, console.ErrDetached):
				fmt.Fprintf(cmd.ErrOrStderr(), "\r\ndetached from %s\n", args[1])
				return nil
			case errors.Is(err, console.ErrClosed):
				// Both providers restart a machine as a new process on reset.
				fmt.Fprintf(cmd.ErrOrStderr(), "\r\nthe console of %s closed: it powered off or restarted (%s console %s %[1]s follows it again)\n", args[1], g.self, args[0])
				return nil
			}
			return err
		},
	}
}

func newLogsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logs SCENARIO NODE",
		Short: "Print a machine's serial console log (a rack's server: what it asked the boot service)",
		Args:  labArgs(g, cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if control.IsRack(g.stateDir, args[0]) {
				r, err := control.MachineLog(cmd.Context(), g.stateDir, args[0], args[1])
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				if r == nil {
					fmt.Fprintf(w, "%s has asked the boot service nothing yet (a server's console is its BMC's)\n", args[1])
					return nil
				}
				fmt.Fprintf(w, "%s: %s %s, address %s (the boot service's machine log; a server's console is its BMC's)\n", args[1], r.MAC, r.UUID, r.IP)
				for _, e := range r.Events {
					fmt.Fprintf(w, "%s  %-9s %s %d %s %s\n", e.Time.UTC().Format(time.TimeOnly), e.Kind, e.Path, e.Status, e.Name, e.Detail)
				}
				return nil
			}
			f, err := control.MachineFiles(g.stateDir, args[0], args[1])
			if err != nil {
				return err
			}
			log, err := os.Open(f.SerialLog)
			if err != nil {
				return fmt.Errorf("serial log of %s: %w", args[1], err)
			}
			defer log.Close()
			_, err = io.Copy(cmd.OutOrStdout(), log)
			return err
		},
	}
}
