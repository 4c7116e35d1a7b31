package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/lab/labd"
	"github.com/labctl/labctl/lab/progress"
)

type statusJSON struct {
	Scenario string `json:"scenario"`
	Netns    string `json:"netns"`
	Provider string `json:"provider"`
	Accel    string `json:"accel,omitempty"`
	Phase    string `json:"phase"`
	// Kubeconfig is the admin kubeconfig of a Kubernetes lab; use it
	// inside Netns (or with `labctl kubectl`).
	Kubeconfig string          `json:"kubeconfig,omitempty"`
	Missing    []string        `json:"missing,omitempty"`   // why the phase is broken
	Recovered  []string        `json:"recovered,omitempty"` // processes that died and were restarted
	API        *apiStatus      `json:"api,omitempty"`
	Machines   []machineStatus `json:"machines"`
}

// apiStatus is how a user's bootcmd or terraform reaches the lab's boot
// service API (from inside the lab's namespace).
type apiStatus struct {
	Endpoint string `json:"endpoint"` // host:port, gRPC over mutual TLS
	CAFile   string `json:"ca_file"`
	CertFile string `json:"cert_file"` // the client's
	KeyFile  string `json:"key_file"`
}

type machineStatus struct {
	Name      string     `json:"name"`
	MAC       string     `json:"mac"`
	UUID      string     `json:"uuid"`
	IP        string     `json:"ip"`
	Power     string     `json:"power"`
	LastEvent string     `json:"last_event"`
	BMC       *bmcStatus `json:"bmc,omitempty"`
}

// bmcStatus is how to reach a machine's virtual BMCs from inside the lab's
// namespace, with the user's own tools.
type bmcStatus struct {
	IPMI         string `json:"ipmi"`    // host:port, IPMI v2.0 lanplus
	Redfish      string `json:"redfish"` // the machine's ComputerSystem
	Username     string `json:"username"`
	PasswordFile string `json:"password_file"`
	CAFile       string `json:"ca_file"` // verifies the Redfish certificate
}

func newStatusCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status SCENARIO",
		Short: "Show whether a lab really runs (lab process, namespace, machines) and its machines: power, address, last boot-service request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			st, err := loadLab(args[0])
			if err != nil {
				return err
			}
			l := st.Lab
			prov, err := labProvider(st)
			if err != nil {
				return err
			}
			health := labd.Assess(cmd.Context(), st, prov)
			boot, _ := progress.Machines(cmd.Context(), progress.Client(l.Netns), l) // empty while the boot service is not up
			out := statusJSON{Scenario: l.Name, Netns: l.Netns, Provider: st.Provider, Accel: st.Accel, Phase: string(health.Phase),
				Missing: health.Missing, Recovered: health.Recovered, Machines: []machineStatus{}}
			if _, err := os.Stat(labd.APICAFile(l.Dir)); err == nil {
				out.API = &apiStatus{Endpoint: labd.APIAddr(l), CAFile: labd.APICAFile(l.Dir),
					CertFile: labd.APIClientCertFile(l.Dir), KeyFile: labd.APIClientKeyFile(l.Dir)}
			}
			if _, err := os.Stat(labd.Kubeconfig(l.Dir)); err == nil {
				out.Kubeconfig = labd.Kubeconfig(l.Dir)
			}
			_, hasBMC := prov.(labd.BMCProvider)
			for i, m := range l.Machines {
				ms := machineStatus{Name: m.Name, MAC: m.MAC.String(), UUID: m.UUID, IP: m.IP.String(), Power: "unknown"}
				if p, ok := health.Power[m.Name]; ok {
					ms.Power = string(p)
				}
				if hasBMC {
					ms.BMC = &bmcStatus{IPMI: labd.IPMIAddr(l, i), Redfish: labd.RedfishURL(l) + "/redfish/v1/Systems/" + m.UUID,
						Username: labd.BMCUsername, PasswordFile: labd.BMCPasswordFile(l.Dir), CAFile: labd.BMCCAFile(l.Dir)}
				}
				if b := bootsvc.FindMachine(boot, m.MAC, m.UUID); b != nil && len(b.Events) > 0 {
					e := b.Events[len(b.Events)-1]
					ms.LastEvent = e.Kind + " " + e.Path
					if e.Name != "" {
						ms.LastEvent = e.Kind + " " + e.Name + ": " + e.Detail
					}
				}
				out.Machines = append(out.Machines, ms)
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return printJSON(w, out)
			}
			fmt.Fprintf(w, "lab %s (%s): provider %s, accelerator %s, namespace %s\n", l.Name, health.Phase, st.Provider, st.Accel, l.Netns)
			for _, m := range health.Missing {
				fmt.Fprintf(w, "  missing: %s\n", m)
			}
			for _, r := range health.Recovered {
				fmt.Fprintf(w, "  recovered: %s\n", r)
			}
			if st.Error != "" {
				fmt.Fprintf(w, "  error: %s\n", st.Error)
			}
			if out.Kubeconfig != "" {
				fmt.Fprintf(w, "  kubeconfig %s (labctl kubectl %s -- ARGS)\n", out.Kubeconfig, args[0])
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tMAC\tIP\tPOWER\tIPMI\tLAST EVENT")
			for _, m := range out.Machines {
				ipmi := "-"
				if m.BMC != nil {
					ipmi = m.BMC.IPMI
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.MAC, m.IP, m.Power, ipmi, m.LastEvent)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if a := out.API; a != nil {
				fmt.Fprintf(w, "boot service API (inside namespace %s): %s, CA %s, client certificate %s, key %s\n",
					l.Netns, a.Endpoint, a.CAFile, a.CertFile, a.KeyFile)
			}
			if hasBMC {
				fmt.Fprintf(w, "BMCs (inside namespace %s): redfish %s, user %s, password file %s, CA %s\n",
					l.Netns, labd.RedfishURL(l), labd.BMCUsername, labd.BMCPasswordFile(l.Dir), labd.BMCCAFile(l.Dir))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
