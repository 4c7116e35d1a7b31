package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/labd"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/scenarios"
)

func newUpCmd() *cobra.Command {
	var provider, ns string
	cmd := &cobra.Command{
		Use:   "up SCENARIO",
		Short: "Bring a lab up: network, boot service, dnsmasq and machines, in a network namespace of its own",
		Args:  scenarioArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := scenarios.Find(args[0])
			if err != nil {
				return err
			}
			st, err := startLab(cmd.Context(), cmd.OutOrStdout(), args[0], provider, ns)
			if err != nil {
				return err
			}
			if _, err := converge(cmd.Context(), cmd.OutOrStdout(), st, sc); err != nil {
				return fmt.Errorf("%w\n(the lab is still up for inspection: labctl logs %s NODE, labctl down %s)", err, st.Lab.Name, st.Lab.Name)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s is up and its %d checks passed (namespace %s)\n", st.Lab.Name, len(sc.Checks), st.Lab.Netns)
			if len(st.Lab.Machines) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "  a shell on a node:  labctl ssh %s %s\n", st.Lab.Name, st.Lab.Machines[0].Name)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "  status:            labctl status %s\n  take it down:      labctl down %s\n", st.Lab.Name, st.Lab.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&provider, "provider", "", "qemu or libvirt (default: libvirt if a system libvirtd answers, else qemu)")
	cmd.Flags().StringVar(&ns, "netns", "", "network namespace for the lab (default labctl-SCENARIO)")
	return cmd
}

// defaultProvider is libvirt when a system libvirtd answers on its socket
// (the lab still gets a private daemon of its own), else the embedded QEMU
// provider.
func defaultProvider() string {
	c, err := net.DialTimeout("unix", "/run/libvirt/libvirt-sock", time.Second)
	if err != nil {
		return "qemu"
	}
	c.Close()
	return "libvirt"
}

// startLab starts the lab and, if that fails half-way, takes down what was made.
func startLab(ctx context.Context, out io.Writer, source, provider, ns string) (*state.State, error) {
	if provider == "" {
		provider = defaultProvider()
	}
	// Refuse bad flags and names before minutes of image building.
	if _, err := labd.Check(source, provider, ns); err != nil {
		return nil, err
	}
	// Build images here, where the user sees it, rather than silently in the
	// lab process: the first labos build takes minutes.
	sc, err := scenarios.Find(source)
	if err != nil {
		return nil, err
	}
	for _, name := range sc.Images {
		start := time.Now()
		fmt.Fprintf(out, "image %s: ", name)
		dir, err := labd.BuildImage(ctx, name, slog.Default())
		if err != nil {
			fmt.Fprintln(out, "failed")
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		fmt.Fprintf(out, "%s (%.1fs)\n", dir, time.Since(start).Seconds())
	}
	st, err := labd.Start(ctx, source, provider, ns, self())
	if err != nil {
		if st != nil {
			labd.Down(context.Background(), st.Lab.Dir, slog.Default())
		}
		return nil, err
	}
	fmt.Fprintf(out, "lab %s: provider %s, namespace %s, state %s\n", st.Lab.Name, st.Provider, st.Lab.Netns, st.Lab.Dir)
	return st, nil
}

func self() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}
