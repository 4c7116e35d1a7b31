package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/lab/control"
)

func newStatusCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status SCENARIO",
		Short: "Show whether a lab really runs (lab process, namespace, machines) and its machines: power, address, last boot-service request",
		Args:  labArgs(g, cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "inventory" {
				if err := checkOutput(output); err != nil {
					return fmt.Errorf("%w (or inventory)", err)
				}
			}
			st, err := control.Load(g.stateDir, args[0])
			if err != nil {
				return err
			}
			if output == "inventory" {
				// For `labctl reprovision --inventory` and `labctl serve --inventory`.
				ms, err := control.Inventory(st)
				if err != nil {
					return err
				}
				return inventory.Encode(cmd.OutOrStdout(), ms)
			}
			s, err := control.LabStatus(cmd.Context(), st)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return printJSON(w, s)
			}
			if s.Interface != "" {
				fmt.Fprintf(w, "lab %s (%s): provider %s, interface %s\n", s.Scenario, s.Phase, s.Provider, s.Interface)
			} else {
				fmt.Fprintf(w, "lab %s (%s): provider %s, accelerator %s, namespace %s\n", s.Scenario, s.Phase, s.Provider, s.Accel, s.Netns)
			}
			for _, m := range s.Missing {
				fmt.Fprintf(w, "  missing: %s\n", m)
			}
			for _, f := range s.Faults {
				fmt.Fprintf(w, "  fault %s: %s (since %s)\n", f.ID, f.Fault, f.Since.Format(time.TimeOnly))
			}
			for _, r := range s.Recovered {
				fmt.Fprintf(w, "  recovered: %s\n", r)
			}
			if s.Error != "" {
				fmt.Fprintf(w, "  error: %s\n", s.Error)
			}
			if s.Kubeconfig != "" {
				fmt.Fprintf(w, "  kubeconfig %s (%s kubectl %s -- ARGS)\n", s.Kubeconfig, g.self, args[0])
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			bmcColumn := "IPMI"
			if s.Interface != "" {
				bmcColumn = "SERVER" // a rack's: its BMCs are the inventory's
			}
			fmt.Fprintf(tw, "NAME\tMAC\tIP\tPOWER\t%s\tLAST EVENT\n", bmcColumn)
			for _, m := range s.Machines {
				ipmi := "-"
				if m.BMC != nil && m.BMC.IPMI != "" {
					ipmi = m.BMC.IPMI
				}
				if m.Server != "" {
					ipmi = m.Server
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.MAC, m.IP, m.Power, ipmi, m.LastEvent)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if s.CAFile != "" {
				fmt.Fprintf(w, "lab CA (verifies the API, the BMCs and the scenario's services): %s\n", s.CAFile)
			}
			if a := s.API; a != nil {
				where := "inside namespace " + s.Netns
				if s.Interface != "" {
					where = "on interface " + s.Interface
				}
				fmt.Fprintf(w, "boot service API (%s): %s, client certificate %s, key %s\n",
					where, a.Endpoint, a.CertFile, a.KeyFile)
			}
			if h := s.HTTPSBoot; h != nil {
				fmt.Fprintf(w, "boot service over HTTPS for UEFI HTTPS boot (inside namespace %s): %s, certificate %s\n", s.Netns, h.URL, h.CertFile)
			}
			if b := s.BMC; b != nil {
				fmt.Fprintf(w, "BMCs (inside namespace %s): redfish %s, user %s, password file %s\n",
					s.Netns, b.Redfish, b.Username, b.PasswordFile)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json, or inventory (the machines and their BMCs as an inventory file, docs/inventory.md)")
	return cmd
}
