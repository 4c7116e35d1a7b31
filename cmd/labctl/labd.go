package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/labd"
)

// newLabDaemonCmd is the lab process that `labctl up` starts inside the
// lab's namespace; users never run it themselves.
func newLabDaemonCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    control.DaemonCommand + " --state DIR",
		Short:  "Run a lab (started by labctl up inside the lab's network namespace)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return labd.Run(cmd.Context(), dir, slog.Default())
		},
	}
	cmd.Flags().StringVar(&dir, "state", "", "the lab's state directory")
	cmd.MarkFlagRequired("state")
	return cmd
}
