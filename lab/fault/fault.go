// Package fault injects faults into a running lab and heals them: a
// partition of the lab's segment, a lossy, slow or duplicating link, a
// frozen guest, a NIC without carrier, a machine powered off through its
// BMC, a service stopped, the boot service or DHCP unavailable, a
// filesystem filled, a disk failing. Each injection is proven to have
// taken effect before it returns (a partition that lets packets through
// would make every check under it a false pass), and everything it
// changes lives inside the lab's namespace or its machines.
package fault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bootsvc/outage"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
)

// Shell runs a command on a machine (over SSH in a lab).
type Shell interface {
	Run(ctx context.Context, m lab.Machine, cmd string) (output string, exitStatus int, err error)
}

// Freezer is a provider that can freeze a whole guest and thaw it
// (lab/qemu: QMP stop and cont).
type Freezer interface {
	Pause(ctx context.Context, l *lab.Lab, machine string) error
	Resume(ctx context.Context, l *lab.Lab, machine string) error
	Paused(ctx context.Context, l *lab.Lab, machine string) (bool, error)
}

// Linker is a provider that can take the carrier off a machine's NIC
// (lab/qemu: QMP set_link).
type Linker interface {
	SetLink(ctx context.Context, l *lab.Lab, machine string, up bool) error
}

// Env is what faults act through on one lab.
type Env struct {
	Lab      *lab.Lab
	Shell    Shell        // service faults, partition probes
	Provider lab.Provider // pause, link: asked for Freezer, Linker
	// BMC is a machine's BMC (protocol "" = its endpoints in order): power
	// faults go through it, so that the BMC path is what is exercised.
	BMC func(machine, protocol string) (power.Controller, error)
	// BMCFaults arms and clears faults on the machines' virtual BMCs, in
	// the lab process that serves them (virtual.FaultClient).
	BMCFaults BMCFaulter
	// BootOutage makes the lab process's boot service fail on purpose
	// (outage.Client).
	BootOutage BootOutager
	// Links delays and reorders a machine's frames in the lab process
	// (netem.Client).
	Links LinkShaper
	// Probe bounds one reachability probe (default 3 s).
	Probe time.Duration
}

// BMCFaulter arms and clears a machine's virtual BMC fault.
type BMCFaulter interface {
	Set(ctx context.Context, machine string, f virtual.Fault) (virtual.FaultStatus, error)
	Clear(ctx context.Context, machine string) (virtual.FaultStatus, error)
}

// BootOutager sets and clears the outage of a lab's boot service.
type BootOutager interface {
	Set(ctx context.Context, status int) (outage.State, error)
	Clear(ctx context.Context) (outage.State, error)
}

// NotEffectiveError says that a fault was applied but the probe that
// should have failed across it did not: the fault is healed again and the
// step fails rather than pass its checks falsely.
type NotEffectiveError struct {
	Fault  string
	Reason string
}

func (e *NotEffectiveError) Error() string {
	return fmt.Sprintf("fault %s did not take effect: %s", e.Fault, e.Reason)
}

// Inject applies f to the lab under id (a name unique among the lab's
// active faults, used for what it creates) and returns once the fault is
// proven to have taken effect. When it fails, what it applied is healed.
func Inject(ctx context.Context, env Env, id string, f scenario.Fault) error {
	if err := scenario.CheckFault(f, env.Lab); err != nil {
		return err
	}
	var err error
	switch f.Kind {
	case scenario.FaultBMCError, scenario.FaultBMCTimeout, scenario.FaultBMCDropSessions, scenario.FaultBMCRefuseBoot:
		err = bmcFault(ctx, env, f)
	case scenario.FaultPartition:
		err = partition(ctx, env, id, f)
	case scenario.FaultLoss:
		err = loss(ctx, env, id, f)
	case scenario.FaultDuplicate:
		err = duplicate(ctx, env, id, f)
	case scenario.FaultDelay:
		err = delay(ctx, env, f)
	case scenario.FaultReorder:
		err = reorder(ctx, env, f)
	case scenario.FaultPause:
		err = pause(ctx, env, f.Machines)
	case scenario.FaultLinkDown:
		err = linkDown(ctx, env, f.Machines)
	case scenario.FaultPowerOff:
		err = powerOff(ctx, env, f)
	case scenario.FaultReset:
		err = reset(ctx, env, f)
	case scenario.FaultServiceStop:
		err = serviceStop(ctx, env, f)
	case scenario.FaultBootServiceDown, scenario.FaultDHCPDown:
		err = bootPath(ctx, env, id, f)
	case scenario.FaultBootServiceError:
		err = bootServiceError(ctx, env, f)
	case scenario.FaultDiskFill:
		err = diskFill(ctx, env, id, f)
	case scenario.FaultDiskFail:
		err = diskFail(ctx, env, f)
	case scenario.FaultKill:
		err = kill(ctx, env, f)
	default:
		return fmt.Errorf("fault kind %q: not known", f.Kind)
	}
	if err != nil {
		if herr := Heal(context.WithoutCancel(ctx), env, id, f); herr != nil {
			err = errors.Join(err, fmt.Errorf("healing it again: %w", herr))
		}
		return fmt.Errorf("inject %s: %w", f, err)
	}
	return nil
}

// Heal undoes f (injected under id). It is idempotent: healing what is
// not there, or a machine that is already back, is no error.
func Heal(ctx context.Context, env Env, id string, f scenario.Fault) error {
	var err error
	switch f.Kind {
	case scenario.FaultBMCError, scenario.FaultBMCTimeout, scenario.FaultBMCDropSessions, scenario.FaultBMCRefuseBoot:
		err = onEach(f.Machines, func(name string) error {
			if env.BMCFaults == nil {
				return errors.New("no virtual BMCs to heal (the lab's BMCs are not labctl's)")
			}
			_, err := env.BMCFaults.Clear(ctx, name)
			return unlessLabProcessGone(err) // its virtual BMCs, faults and all, are gone with it
		})
	case scenario.FaultPartition:
		err = unpartition(ctx, env.Lab, id)
	case scenario.FaultLoss:
		err = dropTable(ctx, env.Lab, "bridge", id)
	case scenario.FaultDuplicate:
		err = dropTable(ctx, env.Lab, "netdev", id)
	case scenario.FaultDelay, scenario.FaultReorder:
		if env.Links == nil {
			break // no relays: nothing was delayed
		}
		err = onEach(f.Machines, func(name string) error {
			_, err := env.Links.Clear(ctx, name)
			return unlessLabProcessGone(err) // its relays are gone with it
		})
	case scenario.FaultBootServiceDown, scenario.FaultDHCPDown:
		err = dropTable(ctx, env.Lab, "inet", id)
	case scenario.FaultBootServiceError:
		err = healBootServiceError(ctx, env)
	case scenario.FaultDiskFill:
		err = unfill(ctx, env, id, f)
	case scenario.FaultDiskFail:
		err = healDisk(ctx, env, f)
	case scenario.FaultPause:
		err = onEach(f.Machines, func(name string) error {
			fr, err := freezer(env)
			if err != nil {
				return err
			}
			return fr.Resume(ctx, env.Lab, name)
		})
	case scenario.FaultLinkDown:
		err = onEach(f.Machines, func(name string) error {
			lk, err := linker(env)
			if err != nil {
				return err
			}
			return lk.SetLink(ctx, env.Lab, name, true)
		})
	case scenario.FaultPowerOff:
		err = onEach(f.Machines, func(name string) error {
			c, err := env.BMC(name, f.Protocol)
			if err != nil {
				return err
			}
			return c.SetPower(ctx, power.ActionOn)
		})
	case scenario.FaultReset:
		// Nothing to undo: the machine started again by itself.
	case scenario.FaultServiceStop, scenario.FaultKill:
		err = onEach(f.Machines, func(name string) error {
			m, _, err := env.Lab.Machine(name)
			if err != nil {
				return err
			}
			out, status, err := env.Shell.Run(ctx, m, "systemctl start "+f.Unit)
			if err == nil && status != 0 {
				err = fmt.Errorf("systemctl start %s: exit status %d: %s", f.Unit, status, strings.TrimSpace(out))
			}
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("heal %s: %w", f, err)
	}
	return nil
}

// unlessLabProcessGone is err, or nil when it says the lab process's
// socket is gone or refuses (no lab process): what it held for a fault
// ended with it, so there is nothing left to heal.
func unlessLabProcessGone(err error) error {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	return err
}

// onEach runs fn for every machine at once and joins their errors, each
// naming its machine.
func onEach(machines []string, fn func(name string) error) error {
	errs := make([]error, len(machines))
	var wg sync.WaitGroup
	for i, name := range machines {
		wg.Go(func() {
			if err := fn(name); err != nil {
				errs[i] = fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func freezer(env Env) (Freezer, error) {
	fr, ok := env.Provider.(Freezer)
	if !ok {
		return nil, fmt.Errorf("provider %s cannot pause a machine", env.Provider.Name())
	}
	return fr, nil
}

func linker(env Env) (Linker, error) {
	lk, ok := env.Provider.(Linker)
	if !ok {
		return nil, fmt.Errorf("provider %s cannot take a NIC's carrier off", env.Provider.Name())
	}
	return lk, nil
}

// pause freezes each machine and reads its state back from the hypervisor.
func pause(ctx context.Context, env Env, machines []string) error {
	fr, err := freezer(env)
	if err != nil {
		return err
	}
	return onEach(machines, func(name string) error {
		if err := fr.Pause(ctx, env.Lab, name); err != nil {
			return err
		}
		paused, err := fr.Paused(ctx, env.Lab, name)
		if err != nil {
			return err
		}
		if !paused {
			return &NotEffectiveError{Fault: "pause " + name, Reason: "the hypervisor reports it still running"}
		}
		return nil
	})
}

// linkDown takes each machine's carrier off and proves it: its SSH port,
// reachable from the gateway before, is not after.
func linkDown(ctx context.Context, env Env, machines []string) error {
	lk, err := linker(env)
	if err != nil {
		return err
	}
	return onEach(machines, func(name string) error {
		m, _, err := env.Lab.Machine(name)
		if err != nil {
			return err
		}
		if err := env.reach(ctx, m.IP); err != nil {
			return fmt.Errorf("before taking its link down, the probe from the gateway already fails, so it would prove nothing: %w", err)
		}
		if err := lk.SetLink(ctx, env.Lab, name, false); err != nil {
			return err
		}
		if env.reach(ctx, m.IP) == nil {
			return &NotEffectiveError{Fault: "link-down " + name, Reason: fmt.Sprintf("the gateway still reaches %s:22", m.IP)}
		}
		return nil
	})
}

// reach connects to ip's SSH port from inside the lab's namespace.
func (env Env) reach(ctx context.Context, ip netip.Addr) error {
	ctx, cancel := context.WithTimeout(ctx, env.probe())
	defer cancel()
	c, err := netns.Dial(ctx, env.Lab.Netns, "tcp", net.JoinHostPort(ip.String(), "22"))
	if err != nil {
		return err
	}
	return c.Close()
}

func (env Env) probe() time.Duration {
	if env.Probe > 0 {
		return env.Probe
	}
	return 3 * time.Second
}

// powerOff powers each machine off through its BMC and reads the state
// back from the provider, beneath the BMC.
func powerOff(ctx context.Context, env Env, f scenario.Fault) error {
	pd, ok := env.Provider.(lab.PowerDriver)
	if !ok {
		return fmt.Errorf("provider %s cannot report power state", env.Provider.Name())
	}
	return onEach(f.Machines, func(name string) error {
		c, err := env.BMC(name, f.Protocol)
		if err != nil {
			return err
		}
		if err := c.SetPower(ctx, power.ActionOff); err != nil {
			return fmt.Errorf("power off through its BMC: %w", err)
		}
		st, err := pd.PowerState(ctx, env.Lab, name)
		if err != nil {
			return err
		}
		if st != power.Off {
			return &NotEffectiveError{Fault: "power-off " + name, Reason: fmt.Sprintf("its BMC answered, but the machine is %s", st)}
		}
		return nil
	})
}

// resetGone bounds how long a reset machine's old system may still answer:
// a machine started again is in its firmware for longer than this.
const resetGone = 10 * time.Second

// reset resets each machine through its BMC and proves it: the gateway
// reaches its port 22 before, and within resetGone no longer does (the
// system that answered is gone; the firmware answers no TCP). The machine
// comes back by itself; nothing is healed.
func reset(ctx context.Context, env Env, f scenario.Fault) error {
	return onEach(f.Machines, func(name string) error {
		m, _, err := env.Lab.Machine(name)
		if err != nil {
			return err
		}
		if err := env.reach(ctx, m.IP); err != nil {
			return fmt.Errorf("before the reset, the gateway does not reach its port 22, so probes would prove nothing: %w", err)
		}
		c, err := env.BMC(name, f.Protocol)
		if err != nil {
			return err
		}
		if err := c.SetPower(ctx, power.ActionReset); err != nil {
			return fmt.Errorf("reset through its BMC: %w", err)
		}
		for end := time.Now().Add(resetGone); time.Now().Before(end); {
			if env.reach(ctx, m.IP) != nil {
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
		return &NotEffectiveError{Fault: f.String(), Reason: fmt.Sprintf("its BMC answered, but the gateway still reaches %s's port 22 %s later: the system that answered before is still running", name, resetGone)}
	})
}

// bmcFault arms the fault on each machine's virtual BMC; the lab process
// answers with the fault armed on the system that serves the machine's
// IPMI and Redfish, which proves it (a probe would spend one of its requests).
func bmcFault(ctx context.Context, env Env, f scenario.Fault) error {
	kind, _ := scenario.BMCFault(f.Kind)
	if env.BMCFaults == nil {
		return errors.New("the lab's BMCs are not labctl's virtual BMCs (a rack's servers): no BMC fault to arm")
	}
	want := virtual.Fault{Kind: kind, Requests: f.Requests}
	return onEach(f.Machines, func(name string) error {
		st, err := env.BMCFaults.Set(ctx, name, want)
		if err != nil {
			return err
		}
		if !st.Armed || st.Fault != want {
			return &NotEffectiveError{Fault: f.Kind + " " + name, Reason: fmt.Sprintf("the lab process reports its BMC's fault as %+v", st)}
		}
		return nil
	})
}

// serviceStop stops the unit on each machine and reads its state back.
func serviceStop(ctx context.Context, env Env, f scenario.Fault) error {
	return onEach(f.Machines, func(name string) error {
		m, _, err := env.Lab.Machine(name)
		if err != nil {
			return err
		}
		out, status, err := env.Shell.Run(ctx, m, "systemctl stop "+f.Unit+"; systemctl is-active "+f.Unit)
		if err != nil {
			return err
		}
		if state := strings.TrimSpace(out); status == 0 || state == "active" || state == "activating" {
			return &NotEffectiveError{Fault: "service-stop " + f.Unit + " on " + name, Reason: "the unit is " + state}
		}
		return nil
	})
}

func haveEbtables() error {
	if _, err := exec.LookPath("ebtables"); err != nil {
		return errors.New("ebtables not found: install Debian's iptables package")
	}
	return nil
}

// ebtables runs ebtables in the lab's namespace.
func ebtables(ctx context.Context, l *lab.Lab, args ...string) error {
	if err := haveEbtables(); err != nil {
		return err
	}
	out, err := netns.Command(ctx, l.Netns, append([]string{"ebtables"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ebtables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
