package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/labd"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/scenarios"
)

func newUpCmd() *cobra.Command {
	var provider, ns string
	cmd := &cobra.Command{
		Use:   "up SCENARIO",
		Short: "Bring a lab up: network, boot service, dnsmasq and machines, in a network namespace of its own",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := scenarios.Find(args[0])
			if err != nil {
				return err
			}
			st, err := startLab(cmd.Context(), cmd.OutOrStdout(), args[0], provider, ns)
			if err != nil {
				return err
			}
			_, err = follow(cmd.Context(), cmd.OutOrStdout(), st, time.Duration(sc.Deadline), func(s progress.Snapshot) bool {
				for _, m := range st.Lab.Machines {
					if !booting(s.Boot[m.Name]) {
						return false
					}
				}
				return true
			})
			if err != nil {
				return fmt.Errorf("%w\n(the lab is still up for inspection: labctl down %s)", err, st.Lab.Name)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s is up (namespace %s); labctl status %s, labctl down %s\n", st.Lab.Name, st.Lab.Netns, st.Lab.Name, st.Lab.Name)
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

// booting says a machine has fetched its kernel and initrd (or reported).
func booting(b *bootsvc.Machine) bool {
	if progress.Reported(b) {
		return true
	}
	fetched := 0
	if b != nil {
		for _, e := range b.Events {
			if e.Kind == bootsvc.KindAsset && e.Status == 200 {
				fetched++
			}
		}
	}
	return fetched >= 2
}

// follow prints each machine's steps until done says the lab got where it
// should, a machine or the lab process fails, or the deadline passes.
func follow(ctx context.Context, out io.Writer, st *state.State, deadline time.Duration, done func(progress.Snapshot) bool) (progress.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	prov, err := labd.Provider(st.Provider, slog.New(slog.NewTextHandler(io.Discard, nil)), st.Lab.Dir)
	if err != nil {
		return progress.Snapshot{}, err
	}
	power, ok := prov.(lab.PowerController)
	if !ok {
		return progress.Snapshot{}, fmt.Errorf("provider %s cannot report power state", st.Provider)
	}
	logs, _ := prov.(labd.Consoles)
	w := progress.NewWatcher(st.Lab, st.Lab.Dir, power, logs)
	accelShown := false
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		snap := w.Poll(ctx)
		if !accelShown {
			if s, err := state.Load(st.Lab.Dir); err == nil && s.Accel != "" {
				fmt.Fprintf(out, "accelerator: %s\n", s.Accel)
				accelShown = true
			}
		}
		for _, s := range snap.Steps {
			fmt.Fprintf(out, "  %6.1fs  %-10s %s\n", s.At.Seconds(), s.Machine, s.Text)
		}
		if len(snap.Failures) > 0 {
			return snap, errors.Join(snap.Failures...)
		}
		if snap.Running && done(snap) {
			return snap, nil
		}
		select {
		case <-ctx.Done():
			return snap, fmt.Errorf("lab %s: not done after %v", st.Lab.Name, deadline)
		case <-tick.C:
		}
	}
}
