package labd

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/progress"
)

// createMachines creates the lab's machines; a rack's servers that install
// to disk are then followed until their disk can go first.
func createMachines(ctx context.Context, wg *sync.WaitGroup, l *lab.Lab, prov lab.Provider, log *slog.Logger) error {
	pd, ok := prov.(lab.PowerDriver)
	if l.Rack == nil || !ok {
		return lab.CreateMachines(ctx, prov, l, l.Machines)
	}
	// The boot service's log before any server boots: only later fetches count.
	mark, err := progress.BootLog(l).Mark(ctx)
	if err != nil {
		return fmt.Errorf("read the boot service's log: %w", err)
	}
	if err := lab.CreateMachines(ctx, prov, l, l.Machines); err != nil {
		return err
	}
	diskFirstAfterInstall(ctx, wg, l, pd, mark, log)
	return nil
}

// diskFirstAfterInstall puts the disk first, persistently, on each of a
// rack's servers that installs to disk once it has fetched its installer's
// config: a server that boots from the network first (as a blank one
// does, and as a BMC without one-time boot leaves it) would otherwise boot
// its installer again after the installer's reboot. This is Ironic's way
// with persistent boot devices, and bmc/reprovision's. A failure is logged
// naming the machine: the scenario's checks then say the machine never
// came back from its disk.
func diskFirstAfterInstall(ctx context.Context, wg *sync.WaitGroup, l *lab.Lab, pd lab.PowerDriver, mark uint64, log *slog.Logger) {
	w := &reprovision.FetchWaiter{Log: progress.BootLog(l)}
	for _, m := range l.Machines {
		if !slices.Contains(m.Boot, power.BootDisk) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := reprovision.Target{Name: m.Name, MAC: m.MAC, UUID: m.UUID}
			if err := w.WaitFetched(ctx, t, mark); err != nil {
				if ctx.Err() == nil {
					log.Error("install: no config fetch to follow with the disk first", "machine", m.Name, "err", err)
				}
				return
			}
			if err := pd.SetBootDevice(ctx, l, m.Name, power.BootDisk, power.BootOptions{Persistent: true}); err != nil {
				log.Error("install: put the disk first after the installer's fetch", "machine", m.Name, "err", err)
				return
			}
			log.Info("installer fetched its config: the disk is first from now on", "machine", m.Name)
		}()
	}
}
