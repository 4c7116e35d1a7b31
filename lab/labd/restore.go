package labd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/snapshot"
)

// restoreMachines starts the lab's machines from the snapshot in dir (see
// lab.Snapshotter), loading them in parallel, and resumes them together
// once all are loaded, so that no member of a cluster runs while another
// is still being loaded.
func restoreMachines(ctx context.Context, prov lab.Provider, l *lab.Lab, dir string, log *slog.Logger) error {
	snap, ok := prov.(lab.Snapshotter)
	if !ok {
		return fmt.Errorf("provider %s cannot restore snapshots", prov.Name())
	}
	errs := make([]error, len(l.Machines))
	var wg sync.WaitGroup
	for i, m := range l.Machines {
		wg.Go(func() {
			begin := time.Now()
			errs[i] = snap.RestoreMachine(ctx, l, m, snapshot.MachineDir(dir, m.Name))
			log.Info("machine restored, paused", "machine", m.Name, "took", time.Since(begin).Round(time.Millisecond), "err", errs[i])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, m := range l.Machines {
		if err := snap.Resume(ctx, l, m.Name); err != nil {
			return err
		}
	}
	log.Info("machines resumed", "lab", l.Name, "snapshot", dir)
	return nil
}
