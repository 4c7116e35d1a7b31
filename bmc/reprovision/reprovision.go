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

	"github.com/labctl/labctl/power"
)

// Target is one machine to reprovision.
type Target struct {
	Name string
	MAC  net.HardwareAddr
	UUID string
	BMC  power.Controller // a *bmc.Client
	Mode power.BootMode   // the firmware mode to boot the network in ("": as it is)
}

// bootSetter is a BMC client that says how it set the boot device: a
// *bmc.Client. Persistent comes back true from a BMC without one-time boot.
type bootSetter interface {
	SetBoot(ctx context.Context, d power.BootDevice, o power.BootOptions) (power.BootOptions, error)
}

// Waiter waits until a machine has fetched its config. Mark is taken before
// the power action; WaitFetched accepts only what the boot service logged
// after it, by the boot service's own count, never by comparing clocks.
type Waiter interface {
	Mark(ctx context.Context) (uint64, error)
	WaitFetched(ctx context.Context, t Target, mark uint64) error
}

// Result is what happened to one machine. Err names the step that failed.
type Result struct {
	Name     string
	Err      error
	Duration time.Duration
}

// Run reprovisions every target concurrently and returns one result per
// target, in order. A machine whose step fails is left as that step left it;
// the others go on.
func Run(ctx context.Context, targets []Target, w Waiter, log *slog.Logger) []Result {
	if log == nil {
		log = slog.Default()
	}
	results := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := one(ctx, t, w, log)
			results[i] = Result{Name: t.Name, Err: err, Duration: time.Since(start)}
		}()
	}
	wg.Wait()
	return results
}

func one(ctx context.Context, t Target, w Waiter, log *slog.Logger) error {
	log = log.With("machine", t.Name)
	want := power.BootOptions{Mode: t.Mode}
	applied := want
	var err error
	if bs, ok := t.BMC.(bootSetter); ok {
		applied, err = bs.SetBoot(ctx, power.BootNetwork, want)
	} else {
		err = t.BMC.SetBootDevice(ctx, power.BootNetwork, want)
	}
	if err != nil {
		return fmt.Errorf("%s: set boot device pxe once: %w", t.Name, err)
	}
	log.Info("boot device set", "device", "pxe", "once", !applied.Persistent)
	st, err := t.BMC.PowerState(ctx)
	if err != nil {
		return fmt.Errorf("%s: power status: %w", t.Name, err)
	}
	action := power.ActionCycle
	if st == power.Off {
		action = power.ActionOn // a cycle of a machine that is off does nothing on many BMCs
	}
	mark, err := w.Mark(ctx)
	if err != nil {
		return fmt.Errorf("%s: read the boot service's log: %w", t.Name, err)
	}
	if err := t.BMC.SetPower(ctx, action); err != nil {
		return fmt.Errorf("%s: power %s: %w", t.Name, action, err)
	}
	log.Info("power", "action", action, "after_event", mark)
	if err := w.WaitFetched(ctx, t, mark); err != nil {
		return fmt.Errorf("%s: wait for the machine to fetch its config: %w", t.Name, err)
	}
	log.Info("config fetched")
	if applied.Persistent {
		// The BMC has no one-time boot: put the disk first again before the
		// installer reboots, or the machine would install forever (Ironic
		// manages persistent boot devices the same way).
		if err := t.BMC.SetBootDevice(ctx, power.BootDisk, power.BootOptions{Persistent: true}); err != nil {
			return fmt.Errorf("%s: restore disk as the first boot device after the config fetch (the BMC has no one-time boot, so the machine will boot its installer again): %w", t.Name, err)
		}
		log.Info("boot device restored", "device", "disk", "persistent", true)
	}
	return nil
}
