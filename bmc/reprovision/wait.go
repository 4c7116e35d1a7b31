package reprovision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bootsvc/bootlog"
)

// FetchWaiter waits by polling a boot service's machine log: a machine has
// fetched its config when an event of kind "ignition" or "ipxe" newer than
// the power action appears.
type FetchWaiter struct {
	Log      bootlog.Reader
	Interval time.Duration // between polls; zero means 1s
}

// fetchKinds are the events that show a machine fetching its config.
var fetchKinds = map[string]bool{bootlog.KindIgnition: true, bootlog.KindIPXE: true}

// WaitFetched polls until t shows a fetch after since, or ctx ends.
func (w *FetchWaiter) WaitFetched(ctx context.Context, t Target, since time.Time) error {
	interval := w.Interval
	if interval == 0 {
		interval = time.Second
	}
	var lastErr error
	for {
		ok, err := w.fetched(ctx, t, since)
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("no ignition or ipxe fetch by %s since %s", t.Name, since.Format(time.RFC3339))
			if lastErr != nil {
				msg += " (last poll: " + lastErr.Error() + ")"
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s: %w", msg, bmc.ErrTimeout)
			}
			return fmt.Errorf("%s: %w", msg, ctx.Err())
		case <-time.After(interval):
		}
	}
}

func (w *FetchWaiter) fetched(ctx context.Context, t Target, since time.Time) (bool, error) {
	records, err := w.Log.Records(ctx)
	if err != nil {
		return false, err
	}
	for _, r := range records {
		if !r.Is(t.MAC, t.UUID) {
			continue
		}
		for _, e := range r.Events {
			if fetchKinds[e.Kind] && e.Time.After(since) {
				return true, nil
			}
		}
	}
	return false, nil
}
