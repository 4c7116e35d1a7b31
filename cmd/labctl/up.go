package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/scenarios"
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

// up brings the lab up, printing as it goes.
func (f *labFlags) up(ctx context.Context, g *globals, out io.Writer, source string) (*state.State, error) {
	st, err := control.Up(ctx, control.UpOptions{Source: source, Provider: f.provider, Netns: f.netns, StateRoot: g.stateDir,
		CacheDir: g.cacheDir, Accel: f.accel, IPXEDir: f.ipxeDir, Self: self(), Out: out})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "lab %s: provider %s, namespace %s, state %s\n", st.Lab.Name, st.Provider, st.Lab.Netns, st.Lab.Dir)
	return st, nil
}

func newUpCmd(g *globals) *cobra.Command {
	var f labFlags
	cmd := &cobra.Command{
		Use:   "up SCENARIO",
		Short: "Bring a lab up: network, boot service, dnsmasq and machines, in a network namespace of its own",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			sc, err := scenarios.Find(args[0])
			if err != nil {
				return err
			}
			st, err := f.up(cmd.Context(), g, out, args[0])
			if err != nil {
				return err
			}
			l := st.Lab
			if _, err := control.Converge(cmd.Context(), out, st, sc); err != nil {
				return fmt.Errorf("%w\n(the lab is still up for inspection: labctl logs %s NODE, labctl down %s)", err, l.Name, l.Name)
			}
			fmt.Fprintf(out, "lab %s is up and its %d checks passed (namespace %s)\n", l.Name, len(sc.Checks), l.Netns)
			if len(l.Machines) > 0 {
				fmt.Fprintf(out, "  a shell on a node:  labctl ssh %s %s\n", l.Name, l.Machines[0].Name)
			}
			fmt.Fprintf(out, "  status:            labctl status %s\n  take it down:      labctl down %s\n", l.Name, l.Name)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newTestCmd(g *globals) *cobra.Command {
	var f labFlags
	var artifacts string
	var keep bool
	cmd := &cobra.Command{
		Use:   "test SCENARIO",
		Short: "Bring a lab up, wait for the scenario's checks, collect artifacts, take it down",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := scenarios.Find(args[0])
			if err != nil {
				return err
			}
			if artifacts == "" {
				artifacts = filepath.Join("_artifacts", sc.Name)
			}
			if err := os.MkdirAll(artifacts, 0o755); err != nil {
				return err
			}
			// The progress lines are also the run's timeline, kept with the artifacts.
			timeline, err := os.Create(filepath.Join(artifacts, "timeline.txt"))
			if err != nil {
				return err
			}
			defer timeline.Close()
			out := io.MultiWriter(cmd.OutOrStdout(), timeline)
			st, err := f.up(cmd.Context(), g, out, args[0])
			if err != nil {
				return err
			}
			results, runErr := control.Converge(cmd.Context(), out, st, sc)
			// Collect and take down even when interrupted.
			ctx := context.WithoutCancel(cmd.Context())
			if err := control.Collect(ctx, st, artifacts, results); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "collect artifacts: %v\n", err)
			} else {
				fmt.Fprintf(out, "artifacts and JUnit report in %s\n", artifacts)
			}
			name := st.Lab.Name
			if keep {
				fmt.Fprintf(out, "lab %s kept up (--keep): labctl ssh %s NODE, labctl down %s\n", name, name, name)
			} else if err := control.Down(ctx, st.Lab.Dir, nil); err != nil {
				return fmt.Errorf("down %s: %w", name, err)
			}
			if runErr != nil {
				return fmt.Errorf("scenario %s: %w", sc.Name, runErr)
			}
			fmt.Fprintf(out, "scenario %s: all %d checks passed\n", sc.Name, len(results))
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&artifacts, "artifacts", "", "directory for logs and the machine log (default _artifacts/SCENARIO)")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab up afterwards")
	return cmd
}

func newVerifyCmd(g *globals) *cobra.Command {
	var junit string
	cmd := &cobra.Command{
		Use:   "verify SCENARIO",
		Short: "Run the scenario's checks against a lab that is up",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := control.Load(g.stateDir, args[0])
			if err != nil {
				return err
			}
			sc, err := scenarios.Find(st.Source)
			if err != nil {
				return err
			}
			results, runErr := control.Converge(cmd.Context(), cmd.OutOrStdout(), st, sc)
			if junit != "" {
				if err := control.WriteJUnit(junit, sc.Name, results); err != nil {
					return fmt.Errorf("write %s: %w", junit, err)
				}
			}
			if runErr != nil {
				return fmt.Errorf("scenario %s: %w", sc.Name, runErr)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "scenario %s: all %d checks passed\n", sc.Name, len(results))
			return nil
		},
	}
	cmd.Flags().StringVar(&junit, "junit", "", "also write the results as JUnit XML to this file")
	return cmd
}

func self() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}
