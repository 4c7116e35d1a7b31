package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// labFlags are the flags of the commands that bring a lab up.
type labFlags struct {
	provider, netns, accel, ipxeDir string
}

func (f *labFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.provider, "provider", "", "qemu or libvirt (default: libvirt if a system libvirtd answers, else qemu)")
	cmd.Flags().StringVar(&f.netns, "netns", "", "network namespace for the lab (default labctl-SCENARIO)")
	cmd.Flags().StringVar(&f.accel, "accel", "", "kvm or tcg (default: probe whether a guest really runs under KVM)")
	cmd.Flags().StringVar(&f.ipxeDir, "ipxe-dir", "", "directory holding undionly.kpxe, ipxe.efi and snponly.efi (default Debian's)")
}

// options are the flags as control's options.
func (f *labFlags) options(g *globals, out io.Writer, source string) control.UpOptions {
	return control.UpOptions{Source: source, Provider: f.provider, Netns: f.netns, StateRoot: g.stateDir,
		CacheDir: g.cacheDir, Accel: f.accel, IPXEDir: f.ipxeDir, Self: self(), Out: out}
}

func newUpCmd(g *globals) *cobra.Command {
	var f labFlags
	cmd := &cobra.Command{
		Use:   "up SCENARIO",
		Short: "Bring a lab up: network, boot service, dnsmasq and machines, in a network namespace of its own",
		Args:  scenarioArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			sc, err := scenario.Find(args[0])
			if err != nil {
				return err
			}
			st, err := control.Up(cmd.Context(), f.options(g, out, args[0]))
			if err != nil {
				return g.downFirst(err)
			}
			l := st.Lab
			run, err := control.Converge(cmd.Context(), out, st, sc)
			printPhases(out, run.Phases)
			if err != nil {
				return fmt.Errorf("%w\n(the lab is still up for inspection: %s logs %s NODE, %[2]s down %[3]s)", err, g.self, l.Name)
			}
			fmt.Fprintf(out, "lab %s is up and its %d checks passed (namespace %s)\n", l.Name, len(sc.Checks), l.Netns)
			if len(l.Machines) > 0 {
				fmt.Fprintf(out, "  a shell on a node:  %s ssh %s %s\n", g.self, l.Name, l.Machines[0].Name)
			}
			fmt.Fprintf(out, "  status:            %[1]s status %[2]s\n  take it down:      %[1]s down %[2]s\n", g.self, l.Name)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

// downFirst adds to a refusal of a lab that is up the command that takes
// it down.
func (g *globals) downFirst(err error) error {
	var up *state.UpError
	if errors.As(err, &up) {
		return fmt.Errorf("%w; take it down first: %s down %s", err, g.self, up.Name)
	}
	return err
}

func newTestCmd(g *globals) *cobra.Command {
	var f labFlags
	var o control.TestOptions
	cmd := &cobra.Command{
		Use:   "test SCENARIO",
		Short: "Bring a lab up, wait for the scenario's checks, collect artifacts, take it down",
		Args:  scenarioArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.UpOptions, o.Errors, o.Command = f.options(g, cmd.OutOrStdout(), args[0]), cmd.ErrOrStderr(), g.self
			phases, err := control.Test(cmd.Context(), o)
			printPhases(cmd.OutOrStdout(), phases)
			return g.downFirst(err)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&o.Artifacts, "artifacts", "", "directory for logs and the machine log (default _artifacts/SCENARIO)")
	cmd.Flags().BoolVar(&o.Keep, "keep", false, "leave the lab up afterwards")
	return cmd
}

func newVerifyCmd(g *globals) *cobra.Command {
	var junit string
	cmd := &cobra.Command{
		Use:   "verify SCENARIO",
		Short: "Run the scenario's checks against a lab that is up",
		Args:  labArgs(g, cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := control.Load(g.stateDir, args[0])
			if err != nil {
				return err
			}
			sc, err := scenario.Find(st.Source)
			if err != nil {
				return err
			}
			run, runErr := control.Converge(cmd.Context(), cmd.OutOrStdout(), st, sc)
			results := run.Results
			if junit != "" {
				if err := control.WriteJUnit(junit, sc.Name, results); err != nil {
					return fmt.Errorf("write %s: %w", junit, err)
				}
			}
			if runErr != nil {
				return fmt.Errorf("scenario %s: %w", sc.Name, runErr)
			}
			fmt.Fprintln(cmd.OutOrStdout(), check.AllPassed(sc.Name, len(sc.Checks), results))
			return nil
		},
	}
	cmd.Flags().StringVar(&junit, "junit", "", "also write the results as JUnit XML to this file")
	return cmd
}

// printPhases shows where the boot's time went, if anything was seen.
func printPhases(out io.Writer, s progress.Summary) {
	if line := s.String(); line != "" {
		fmt.Fprintln(out, line)
	}
}

func self() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}
