// Package reprovision reinstalls servers through their BMCs: boot from the
// network once, power-cycle, and wait until each fetches its config.
package reprovision

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/labctl/labctl/internal/power"
)

// Target is one machine to reprovision.
type Target struct {
	Name string
	MAC  net.HardwareAddr
	UUID string
	BMC  power.Controller // a *bmc.Client
	Mode power.BootMode   // the firmware mode to boot the network in ("": as it is)
	// EveryBoot boots the network persistently, not once: a rack's server
	// that lives in RAM, whose every boot is a network boot. There is no
	// disk to put first again after the fetch.
	EveryBoot bool
}

// bootSetter is a BMC client that says how it set the boot device: a
// *bmc.Client. Persistent comes back true from a BMC without one-time boot.
type bootSetter interface {
	SetBoot(ctx context.Context, d power.BootDevice, o power.BootOptions) (power.BootOptions, error)
}

// overrideReader is a BMC client that reads back the boot device it holds
// for the next boot: a *bmc.Client.
type overrideReader interface {
	BootOverride(ctx context.Context) (power.BootDevice, error)
}

// Waiter waits until a machine has fetched its config. Mark is taken before
// the power action; WaitFetched accepts only what the boot service logged
// after it, by the boot service's own count, never by comparing clocks.
type Waiter interface {
	Mark(ctx context.Context) (uint64, error)
	WaitFetched(ctx context.Context, t Target, mark uint64) error
}

// Phase is how far a machine's reprovisioning got.
type Phase string

const (
	PhaseQueued      Phase = "queued"       // not begun (the run ended first)
	PhaseLeave       Phase = "leave"        // the scenario's before hook: out of service
	PhaseBootDevice  Phase = "boot-device"  // setting the next boot to the network
	PhasePower       Phase = "power"        // reading the power state, power-cycling
	PhaseFetch       Phase = "fetch"        // waiting for the config fetch
	PhaseRestoreDisk Phase = "restore-disk" // a BMC without one-time boot: the disk first again
	PhaseRejoin      Phase = "rejoin"       // the scenario's after hook: back in service
	PhaseChecks      Phase = "checks"       // the scenario's checks, run again
	PhaseDone        Phase = "done"
)

// DefaultParallel is how many machines are reprovisioned at once unless
// told otherwise: enough to keep a rack moving, few enough that a boot
// service, its DHCP and the machines' first boots do not all peak at once.
const DefaultParallel = 4

// Result is what happened to one machine. Err names the machine and the
// step that failed; Phase is that step (PhaseDone on success).
type Result struct {
	Name     string
	Err      error
	Phase    Phase
	Start    time.Time // when its first step began
	Duration time.Duration
}

// Options say how Run goes about it.
type Options struct {
	Parallel int // at most this many machines at once; 0 means DefaultParallel
	Log      *slog.Logger
}

// Run reprovisions the targets, at most o.Parallel at a time, taken in
// order, and returns one result per target, in order. A machine whose step
// fails is left as that step left it; the others go on.
func Run(ctx context.Context, targets []Target, w Waiter, o Options) []Result {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	results := make([]Result, len(targets))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(parallel, len(targets)) {
		wg.Go(func() {
			for i := range next {
				t := targets[i]
				start := time.Now()
				phase, err := one(ctx, t, w, log)
				results[i] = Result{Name: t.Name, Err: err, Phase: phase, Start: start, Duration: time.Since(start)}
			}
		})
	}
	for i, t := range targets {
		select {
		case next <- i:
		case <-ctx.Done():
			results[i] = Result{Name: t.Name, Phase: PhaseQueued, Err: fmt.Errorf("%s: not begun: %w", t.Name, context.Cause(ctx))}
		}
	}
	close(next)
	wg.Wait()
	return results
}

func one(ctx context.Context, t Target, w Waiter, log *slog.Logger) (Phase, error) {
	log = log.With("machine", t.Name)
	want := power.BootOptions{Mode: t.Mode, Persistent: t.EveryBoot}
	applied := want
	var err error
	if bs, ok := t.BMC.(bootSetter); ok {
		applied, err = bs.SetBoot(ctx, power.BootNetwork, want)
	} else {
		err = t.BMC.SetBootDevice(ctx, power.BootNetwork, want)
	}
	if err != nil {
		how := "once"
		if t.EveryBoot {
			how = "persistently"
		}
		return PhaseBootDevice, fmt.Errorf("%s: set boot device pxe %s: %w", t.Name, how, err)
	}
	log.Info("boot device set", "device", "pxe", "once", !applied.Persistent)
	st, err := t.BMC.PowerState(ctx)
	if err != nil {
		return PhasePower, fmt.Errorf("%s: power status: %w", t.Name, err)
	}
	action := power.BootAction(st)
	mark, err := w.Mark(ctx)
	if err != nil {
		return PhasePower, fmt.Errorf("%s: read the boot service's log: %w", t.Name, err)
	}
	if err := t.BMC.SetPower(ctx, action); err != nil {
		return PhasePower, fmt.Errorf("%s: power %s: %w", t.Name, action, err)
	}
	log.Info("power", "action", action, "after_event", mark)
	if err := w.WaitFetched(ctx, t, mark); err != nil {
		return PhaseFetch, fmt.Errorf("%s: wait for the machine to fetch its config: %w", t.Name, err)
	}
	log.Info("config fetched")
	if t.EveryBoot {
		return PhaseDone, nil
	}
	if !applied.Persistent && keptNetwork(ctx, t, log) {
		applied.Persistent = true
	}
	if applied.Persistent {
		// The BMC has no one-time boot: put the disk first again before the
		// installer reboots, or the machine would install forever (Ironic
		// manages persistent boot devices the same way).
		if err := t.BMC.SetBootDevice(ctx, power.BootDisk, power.BootOptions{Persistent: true}); err != nil {
			return PhaseRestoreDisk, fmt.Errorf("%s: restore disk as the first boot device after the config fetch (the BMC has no one-time boot, so the machine will boot its installer again): %w", t.Name, err)
		}
		log.Info("boot device restored", "device", "disk", "persistent", true)
	}
	return PhaseDone, nil
}

// keptNetwork reports whether the BMC still holds the network as the boot
// device after the machine booted from it once: a one-time boot it applied
// persistently while saying one-time (virtualbmc writes the device into
// libvirt's domain definition), which would loop the machine through its
// installer. A BMC that cannot say is taken at its word.
func keptNetwork(ctx context.Context, t Target, log *slog.Logger) bool {
	r, ok := t.BMC.(overrideReader)
	if !ok {
		return false
	}
	d, err := r.BootOverride(ctx)
	if err != nil {
		log.Debug("read back the boot device after the one-time boot", "err", err)
		return false
	}
	if d != power.BootNetwork {
		return false
	}
	log.Warn(t.Name + ": BMC still reports a network boot after the one-time network boot (it kept it, as virtualbmc does): restoring disk")
	return true
}
