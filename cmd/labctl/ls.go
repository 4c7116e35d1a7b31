package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/state"
)

func newLsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the labs on this machine: scenario, provider, phase, machines, age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			labs, err := control.List(cmd.Context(), g.stateDir)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return printJSON(w, labs)
			}
			if len(labs) == 0 {
				fmt.Fprintf(w, "no labs in %s; bring one up with %s up SCENARIO (%[2]s scenarios lists them)\n", g.stateDir, g.self)
				return nil
			}
			return printLabs(w, labs, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func printLabs(w io.Writer, labs []state.Summary, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCENARIO\tPROVIDER\tPHASE\tMACHINES\tAGE")
	for _, l := range labs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.Name, dash(l.Scenario), dash(l.Provider), l.Phase,
			dash(strings.Join(l.Machines, ",")), age(l.Created, now))
	}
	return tw.Flush()
}

// age is how long ago t was, the way kubectl says it: 42s, 7m, 3h12m, 4d.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
