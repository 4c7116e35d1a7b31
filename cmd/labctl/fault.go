package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/scenario"
)

func newFaultCmd(g *globals) *cobra.Command {
	var (
		f      scenario.Fault
		groups []string
		id     string
		delay  time.Duration
		jitter time.Duration
	)
	cmd := &cobra.Command{
		Use:   "fault SCENARIO inject KIND | heal ID | list",
		Short: "Inject a fault into a lab that is up, heal it, list the active ones",
		Long: `Inject a fault into a lab that is up, heal it, list the active ones.

Kinds: ` + strings.Join(scenario.FaultKinds, ", ") + ` (docs/faults.md).
A fault is proven to have taken effect before inject returns, is recorded
in the lab's state (listed by status) and healed by heal ID or by down.

  labctl fault etcd3 inject partition --machines node3
  labctl fault etcd3 inject partition --groups node1 --groups node2,node3
  labctl fault etcd3 inject pause --machines node2 --id frozen
  labctl fault etcd3 inject reset --machines node2 --protocol redfish
  labctl fault etcd3 inject service-stop --machines node1 --unit etcd
  labctl fault etcd3 inject kill --machines node1 --unit etcd
  labctl fault etcd3 inject loss --machines node2 --percent 30
  labctl fault etcd3 inject duplicate --machines node2 --percent 20
  labctl fault etcd3 inject delay --machines node2 --delay 200ms --jitter 20ms
  labctl fault etcd3 inject reorder --machines node2 --percent 25 --delay 50ms
  labctl fault etcd3 inject bmc-error --machines node3 --requests 2
  labctl fault etcd3 inject boot-service-down
  labctl fault etcd3 inject boot-service-error --status 500
  labctl fault etcd3 inject dhcp-down
  labctl fault etcd3 inject disk-fill --machines node1 --path /var/lib/etcd
  labctl fault etcd3 inject disk-fail --machines node3
  labctl fault etcd3 heal partition-node3`,
		Args: labArgs(g, func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 3 && (args[1] == "inject" || args[1] == "heal"):
			case len(args) == 2 && args[1] == "list":
			default:
				return fmt.Errorf("want SCENARIO inject KIND, SCENARIO heal ID or SCENARIO list; got %q", strings.Join(args, " "))
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := control.Open(g.stateDir, args[0], g.printer(cmd.OutOrStdout()))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch args[1] {
			case "inject":
				f.Kind = args[2]
				f.Delay, f.Jitter = scenario.Duration(delay), scenario.Duration(jitter)
				for _, grp := range groups {
					f.Groups = append(f.Groups, strings.Split(grp, ","))
				}
				if id == "" {
					id = defaultFaultID(f)
				}
				begin := time.Now()
				if f, err = l.Inject(cmd.Context(), id, f); err != nil {
					return flagNames(err)
				}
				fmt.Fprintf(out, "fault %s: %s took effect in %.1fs (heal: %s fault %s heal %[1]s)\n", id, f, time.Since(begin).Seconds(), g.self, l.Name())
			case "heal":
				if err := l.Heal(cmd.Context(), args[2]); err != nil {
					return err
				}
				fmt.Fprintf(out, "fault %s healed\n", args[2])
			case "list":
				active, err := control.ActiveFaults(l.State)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tFAULT\tSINCE")
				for _, a := range active {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, a.Fault, a.Since.Format(time.TimeOnly))
				}
				tw.Flush()
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.Machines, "machines", nil, "machines the fault acts on (a partition: those isolated from the rest)")
	fl.StringArrayVar(&groups, "groups", nil, "a partition's group, machines separated by commas; once per group")
	fl.StringVar(&f.Unit, "unit", "", "the systemd unit of a service-stop or a kill")
	fl.StringVar(&f.Where, "where", "", "pick among --machines those on which this command exits 0 (e.g. the etcd leader)")
	fl.StringVar(&f.Protocol, "protocol", "", "the BMC protocol of a power-off or a reset: ipmi or redfish (default: the BMC's endpoints in order)")
	fl.IntVar(&f.Percent, "percent", 0, "the share of frames a loss drops or a duplicate sends twice, 1 to 100; a reorder sends at once, 1 to 99; how full a disk-fill makes its filesystem (default 0: full)")
	fl.DurationVar(&delay, "delay", 0, fmt.Sprintf("how long a delay or a reorder holds each frame the machine sends, %s to %s", scenario.MinDelay, scenario.MaxDelay))
	fl.DurationVar(&jitter, "jitter", 0, "how much a delay's may differ from --delay, either way (0 to the delay)")
	fl.StringVar(&f.Path, "path", "", "the directory whose filesystem a disk-fill fills")
	fl.IntVar(&f.Status, "status", 0, "what a boot-service-error answers the machines, 500 to 599 (default 0: 503)")
	fl.IntVar(&f.Requests, "requests", 0, "the requests a BMC fault (bmc-*) spoils (default 0: until healed)")
	fl.StringVar(&id, "id", "", "the fault's id, to heal it by (default KIND-MACHINES)")
	return cmd
}

// defaultFaultID names a fault by its kind and machines.
func defaultFaultID(f scenario.Fault) string {
	ms := f.Machines
	for _, g := range f.Groups {
		ms = append(ms, g...)
	}
	return strings.Join(append([]string{f.Kind}, ms...), "-")
}

// flagNames turns a fault's field names into the flags that give them.
func flagNames(err error) error {
	msg := strings.ReplaceAll(err.Error(), "fault.kind:", "KIND:")
	for _, field := range []string{"machines", "groups", "unit", "where", "protocol", "requests", "percent", "path", "status", "delay", "jitter"} {
		msg = strings.ReplaceAll(msg, "fault."+field, "--"+field)
	}
	if msg == err.Error() {
		return err
	}
	return fmt.Errorf("%s", msg)
}
