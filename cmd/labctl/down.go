package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/labd"
	"github.com/labctl/labctl/lab/state"
)

func newDownCmd() *cobra.Command {
	var all bool
	var root string
	cmd := &cobra.Command{
		Use:   "down SCENARIO | down --all",
		Short: "Take a lab down (also after a crash): machines, network, dnsmasq, namespace, state",
		Args: func(cmd *cobra.Command, args []string) error {
			if all {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if all {
				down, err := labd.DownAll(cmd.Context(), root, slog.Default())
				for _, dir := range down {
					fmt.Fprintf(out, "lab %s is down\n", filepath.Base(dir))
				}
				if err != nil {
					return fmt.Errorf("down --all %s: %w", root, err)
				}
				if len(down) == 0 {
					fmt.Fprintf(out, "no lab is up in %s; nothing to do\n", root)
				}
				return nil
			}
			name, err := labd.NameOf(args[0])
			if err != nil {
				return err
			}
			err = labd.Down(cmd.Context(), filepath.Join(root, name), slog.Default())
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
	cmd.Flags().BoolVar(&all, "all", false, "take down every lab recorded in the state directory (each from its own state: only what it made)")
	cmd.Flags().StringVar(&root, "state-dir", state.Root(), "the directory holding the labs' state")
	return cmd
}

// loadLab reads a lab's state, saying so plainly when it is not up.
func loadLab(arg string) (*state.State, error) {
	name, err := labd.NameOf(arg)
	if err != nil {
		return nil, err
	}
	st, err := state.Load(state.Dir(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab %s is not up", name)
	}
	return st, err
}

// labProvider is the provider of a lab that is up, as the CLI drives it:
// quietly, since the lab process keeps the lab's log.
func labProvider(st *state.State) (lab.Provider, error) {
	return labd.Provider(st.Provider, slog.New(slog.DiscardHandler), st.Lab.Dir)
}
