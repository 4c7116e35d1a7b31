package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// completeArgs tells the shell what each command's arguments can be:
// built-in scenario names for the commands that bring a lab up, the labs
// on this machine for those that act on one, then that lab's machines.
// cobra's `labctl completion bash|zsh|fish|powershell` makes the shell side.
func completeArgs(root *cobra.Command, g *globals) {
	for _, c := range root.Commands() {
		switch c.Name() {
		case "up", "test":
			c.ValidArgsFunction = completeScenario
		case "down", "status", "verify":
			c.ValidArgsFunction = completeLab(g, 0)
		case "console", "logs", "ssh":
			c.ValidArgsFunction = completeLab(g, 1)
		case "reprovision":
			c.ValidArgsFunction = completeLab(g, -1)
		}
	}
}

// completeScenario offers the built-in scenarios, or directories once the
// word looks like a path (a scenario of one's own): shells show either
// names or directories, not both.
func completeScenario(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if strings.ContainsAny(toComplete, "./~") {
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	list, _ := scenario.List() // complete what loads
	var out []string
	for _, s := range list {
		out = append(out, s.Name+"\t"+s.Description)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeLab completes a lab name, then up to nodes of its machines (-1:
// any number), each at most once.
func completeLab(g *globals, nodes int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		labs, _ := state.List(g.stateDir)
		var out []string
		switch {
		case len(args) == 0:
			for _, l := range labs {
				out = append(out, l.Name+"\t"+string(l.Phase)+" "+l.Scenario)
			}
		case nodes < 0 || len(args) <= nodes:
			if f := cmd.Flags().Lookup("bootsvc"); f != nil && f.Changed {
				break // reprovision of real servers: the nodes are the inventory's
			}
			name, err := control.NameOf(args[0])
			if err != nil {
				break
			}
			for _, l := range labs {
				if l.Name != name {
					continue
				}
				for _, m := range l.Machines {
					if !slices.Contains(args[1:], m) {
						out = append(out, m)
					}
				}
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
