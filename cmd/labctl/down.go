package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/labd"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/scenarios"
)

func newDownCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "down SCENARIO",
		Short: "Take a lab down (also after a crash): machines, network, dnsmasq, namespace, state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := labName(args[0])
			err := labd.Down(cmd.Context(), state.Dir(name), slog.Default())
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

// labName is the lab a SCENARIO argument names: a built-in name as is, a
// directory by the name in its scenario.yaml.
func labName(arg string) string {
	if strings.ContainsRune(arg, os.PathSeparator) {
		if sc, err := scenarios.Find(arg); err == nil {
			return sc.Name
		}
	}
	return arg
}

// loadLab reads a lab's state, saying so plainly when it is not up.
func loadLab(arg string) (*state.State, error) {
	name := labName(arg)
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
