package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// labFlags are the flags of the commands that bring a lab up.
type labFlags struct {
	provider, netns, accel, ipxeDir string
	signedDir                       string
	fromSnapshot                    string
	// A rack's servers instead of VMs: all three or none.
	inventory, iface, dhcp string
	mapping                map[string]string
}

func (f *labFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.provider, "provider", "", "qemu or libvirt (default: libvirt if a system libvirtd answers, else qemu)")
	cmd.Flags().StringVar(&f.netns, "netns", "", "network namespace for the lab (default labctl-SCENARIO)")
	cmd.Flags().StringVar(&f.accel, "accel", "", "kvm or tcg (default: probe whether a guest really runs under KVM)")
	cmd.Flags().StringVar(&f.ipxeDir, "ipxe-dir", "", "directory holding undionly.kpxe, ipxe.efi and snponly.efi (default Debian's)")
	cmd.Flags().StringVar(&f.signedDir, "secure-boot-dir", "", "directory holding the signed shimx64.efi and grubx64.efi that Secure Boot machines boot (default Debian's shim-signed and grub-efi-amd64-signed)")
	cmd.Flags().StringVar(&f.fromSnapshot, "from-snapshot", "", "restore the lab from this snapshot (labctl snapshot save) instead of booting it")
}

// addRack adds the flags that run the scenario on a rack's servers.
func (f *labFlags) addRack(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.inventory, "inventory", "", "run on the servers this inventory YAML lists, through their BMCs, instead of VMs (docs/racks.md)")
	fl.StringVar(&f.iface, "interface", "", "with --inventory: the rack's interface the boot service and dnsmasq serve on (up, with an IPv4 address; labctl never changes it)")
	fl.StringVar(&f.dhcp, "dhcp", "", "with --inventory: who hands out addresses: proxy (the site; labctl answers PXE only), full (labctl: the inventory's addresses) or none")
	fl.StringToStringVar(&f.mapping, "map", nil, "with --inventory: scenario machine=inventory machine, for names that differ (e.g. node1=rack1,node2=rack2)")
}

// rack is the rack options the flags give, nil without --inventory; a
// rack flag without --inventory is refused naming it.
func (f *labFlags) rack(cmd *cobra.Command) (*control.RackUpOptions, error) {
	if f.inventory == "" {
		for _, name := range []string{"interface", "dhcp", "map"} {
			if cmd.Flags().Changed(name) {
				return nil, fmt.Errorf("--%s: only with --inventory (a rack's servers)", name)
			}
		}
		return nil, nil
	}
	return &control.RackUpOptions{Inventory: f.inventory, Interface: f.iface, DHCP: f.dhcp, Map: f.mapping}, nil
}

// rackError names the flag of a refused rack input.
func rackError(err error) error {
	var in *control.InputError
	if errors.As(err, &in) {
		return fmt.Errorf("--%s: %w", in.Input, in.Err)
	}
	var missing *control.MissingError
	if errors.As(err, &missing) {
		return fmt.Errorf("--%s: required with --inventory", missing.Field)
	}
	return err
}

// options are the flags as control's options.
func (f *labFlags) options(g *globals, p *printer, source string) control.UpOptions {
	return control.UpOptions{Source: source, Provider: f.provider, Netns: f.netns, StateRoot: g.stateDir,
		CacheDir: g.cacheDir, Accel: f.accel, IPXEDir: f.ipxeDir, SignedDir: f.signedDir, Self: self(), Report: p, FromSnapshot: f.fromSnapshot}
}

// up, verify and test chain the same calls on a control.Lab: Up (or Open),
// Converge, then for test Collect and Down.

func newUpCmd(g *globals) *cobra.Command {
	var f labFlags
	cmd := &cobra.Command{
		Use:   "up SCENARIO",
		Short: "Bring a lab up: network, boot service, dnsmasq and machines, in a network namespace of its own",
		Long: `up brings the scenario's lab up and waits until its checks pass.

By default the machines are VMs on a network of their own, in a network
namespace labctl makes. With --inventory, --interface and --dhcp they are a
rack's servers instead: each scenario machine is the inventory machine of
the same name (or as --map says), with the inventory's MAC, UUID and
address; the boot service and dnsmasq serve on --interface in the current
namespace (nothing is made or changed there), and each server is set to
boot from the network through its BMC and power-cycled. down stops what up
started and powers the servers off (docs/racks.md).`,
		Example: `  labctl up etcd3
  labctl up etcd3 --inventory rack.yaml --interface eno2 --dhcp proxy --map node1=rack1,node2=rack2,node3=rack3`,
		Args: scenarioArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := g.printer(cmd.OutOrStdout())
			o := f.options(g, p, args[0])
			rack, err := f.rack(cmd)
			if err != nil {
				return err
			}
			o.Rack = rack
			l, err := control.Up(cmd.Context(), o)
			if err != nil {
				return g.downFirst(rackError(err))
			}
			run, err := l.Converge(cmd.Context())
			p.phases(run.Phases)
			if err != nil {
				return p.stillUp(err, l)
			}
			p.upHints(l)
			return nil
		},
	}
	f.add(cmd)
	f.addRack(cmd)
	return cmd
}

// downFirst adds to a refusal of a lab that is up the command that takes
// it down.
func (g *globals) downFirst(err error) error {
	var up *state.UpError
	if errors.As(err, &up) {
		return fmt.Errorf("%w; take it down first: %s down %s", err, g.self, up.Name)
	}
	return err
}

func newVerifyCmd(g *globals) *cobra.Command {
	var junit string
	var steps bool
	var stepsFrom []string
	cmd := &cobra.Command{
		Use:   "verify SCENARIO",
		Short: "Run the scenario's checks against a lab that is up (and with --steps its fault steps)",
		Args:  labArgs(g, cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := g.printer(cmd.OutOrStdout())
			l, err := control.Open(g.stateDir, args[0], p)
			if err != nil {
				return err
			}
			var of []*scenario.Scenario // whose steps run, in order
			if steps {
				if len(l.Scenario.Steps) == 0 {
					return fmt.Errorf("--steps: scenario %s has no steps", l.Scenario.Name)
				}
				of = append(of, l.Scenario)
			}
			for _, name := range stepsFrom {
				sc, err := scenario.Find(name)
				switch {
				case err != nil:
					return fmt.Errorf("--steps-from: %w", err)
				case !sc.OnLab(l.Scenario.Name):
					return fmt.Errorf("--steps-from: scenario %s does not run on lab %s: it has no base %s (base: %q)", sc.Name, l.Name(), l.Scenario.Name, sc.Base)
				case len(sc.Steps) == 0:
					return fmt.Errorf("--steps-from: scenario %s has no steps", sc.Name)
				}
				of = append(of, sc)
			}
			run, runErr := l.Converge(cmd.Context())
			var passed []int // steps of each scenario in of, all passed
			for _, sc := range of {
				if runErr != nil {
					break
				}
				var res []control.StepResult
				res, runErr = l.RunSteps(cmd.Context(), sc)
				run.Steps = append(run.Steps, res...)
				passed = append(passed, len(res))
			}
			if junit != "" {
				if err := control.WriteJUnit(junit, l.Scenario.Name, run); err != nil {
					return fmt.Errorf("write %s: %w", junit, err)
				}
			}
			if runErr != nil {
				return runErr
			}
			p.allPassed(l, run.Results)
			done := run.Steps
			for i, n := range passed {
				p.stepsPassed(of[i], done[:n])
				done = done[n:]
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&junit, "junit", "", "also write the results as JUnit XML to this file")
	cmd.Flags().BoolVar(&steps, "steps", false, "then run the scenario's steps: faults injected, checked under, healed and recovered from (docs/faults.md)")
	cmd.Flags().StringSliceVar(&stepsFrom, "steps-from", nil, "then run the steps of these scenarios, in order: each based on the lab's scenario (base: SCENARIO), such as etcd3-partition on etcd3")
	return cmd
}

func self() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}
