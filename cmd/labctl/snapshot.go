package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/snapshot"
)

func newSnapshotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save a running lab whole (machines' memory and disks, its keys, leases, boot service data) and list or remove saved ones; restore with up --from-snapshot",
	}
	cmd.AddCommand(newSnapshotSaveCmd(g), newSnapshotLsCmd(g), newSnapshotRmCmd(g))
	return cmd
}

func newSnapshotSaveCmd(g *globals) *cobra.Command {
	var stop bool
	cmd := &cobra.Command{
		Use:   "save LAB NAME",
		Short: "Pause the lab's machines together, save them and the lab's state as snapshot NAME, then resume them (or take the lab down with --stop)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := g.printer(cmd.OutOrStdout())
			begin := time.Now()
			m, err := control.Save(cmd.Context(), control.SaveOptions{StateRoot: g.stateDir, Lab: args[0], Name: args[1], Stop: stop, Report: p})
			if err != nil {
				if m != nil { // saved; the lab did not resume or go down
					return fmt.Errorf("snapshot %s saved, but: %w", m.Name, err)
				}
				return err
			}
			w := cmd.OutOrStdout()
			for _, mc := range m.State.Lab.Machines {
				fmt.Fprintf(w, "machine %s saved in %s\n", mc.Name, m.SaveTime[mc.Name])
			}
			size, _ := snapshot.DiskUsage(snapshot.Dir(snapshot.Root(g.stateDir), m.Name))
			then := "resumed"
			if stop {
				then = "taken down"
			}
			fmt.Fprintf(w, "snapshot %s of lab %s saved in %s (%s on disk); the lab was %s; restore it with %s up %s --from-snapshot %s\n",
				m.Name, m.Lab(), time.Since(begin).Round(time.Millisecond), bytesText(size), then, g.self, m.State.Source, m.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&stop, "stop", false, "take the lab down once saved instead of resuming it")
	return cmd
}

func newSnapshotLsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the snapshots: name, lab, provider, images, size on disk, age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			snaps, err := control.Snapshots(g.stateDir)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return printJSON(w, snaps)
			}
			if len(snaps) == 0 {
				fmt.Fprintf(w, "no snapshots in %s; save a lab with %s snapshot save LAB NAME\n", snapshot.Root(g.stateDir), g.self)
				return nil
			}
			return printSnapshots(w, snaps, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func printSnapshots(w io.Writer, snaps []snapshot.Summary, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLAB\tSCENARIO\tPROVIDER\tIMAGES\tMACHINES\tSIZE\tAGE")
	for _, s := range snaps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, s.Lab, dash(s.Scenario), dash(s.Provider), dash(strings.Join(s.Images, ",")),
			s.Machines, bytesText(s.Bytes), age(s.Created, now))
	}
	return tw.Flush()
}

// bytesText is a size the way du -h says it.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%c", float64(n)/float64(div), "KMGTPE"[exp])
}

func newSnapshotRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove snapshots (labs restored from them keep running)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, name := range args {
				if err := control.RemoveSnapshot(g.stateDir, name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "snapshot %s removed\n", name)
			}
			return nil
		},
	}
}
