package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/scenario"
)

func newScenariosCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "scenarios",
		Short: "List the built-in scenarios: what each proves and the images it needs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			list, err := scenario.List()
			if err != nil {
				return err
			}
			if output == "json" {
				return printJSON(cmd.OutOrStdout(), list)
			}
			return printScenarios(cmd.OutOrStdout(), list)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func printScenarios(w io.Writer, list []scenario.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMACHINES\tIMAGES\tDESCRIPTION")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Name, len(s.Machines), dash(strings.Join(s.Images, ",")), s.Description)
	}
	return tw.Flush()
}

// scenarioArg is the Args of commands that take one SCENARIO: without one,
// the error lists the built-in scenarios and the usage, so that a newcomer
// who types `labctl up` learns what there is to bring up.
func scenarioArg(cmd *cobra.Command, args []string) error {
	if len(args) != 0 {
		return cobra.ExactArgs(1)(cmd, args)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s needs a SCENARIO: a built-in one or a directory holding scenario.yaml\n\n", cmd.CommandPath())
	if list, err := scenario.List(); err != nil {
		fmt.Fprintf(&b, "(the built-in scenarios do not load: %v)\n", err)
	} else {
		printScenarios(&b, list)
	}
	b.WriteString("\n" + cmd.UsageString())
	return fmt.Errorf("%s", strings.TrimRight(b.String(), "\n"))
}

// labArgs is check, except that a command given nothing is told which
// argument it needs and where to find one, not only cobra's count.
func labArgs(g *globals, check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return fmt.Errorf("%s needs the SCENARIO of a lab that is up: %s ls lists them\n\n%s",
				cmd.CommandPath(), g.self, strings.TrimRight(cmd.UsageString(), "\n"))
		}
		return check(cmd, args)
	}
}

func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("--output: %q is neither text nor json", output)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
