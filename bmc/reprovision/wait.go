package reprovision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bootsvc/bootlog"
)

// ErrConfigRefused is the boot service answering a machine's config fetch
// with an error (a broken template, no matching group): the machine booted
// but got no config, so waiting longer would not help.
var ErrConfigRefused = errors.New("the boot service refused the machine's config")

// MachineLog is the boot service's machine log as the waiter reads it; a
// *bootlog.Client.
type MachineLog interface {
	Mark(ctx context.Context) (uint64, error)
	RecordsOf(ctx context.Context, mac net.HardwareAddr, uuid string) ([]bootlog.Record, error)
}

// FetchWaiter waits by polling a boot service's machine log. Only events
// the boot service numbered after the mark count, so no clock but its own
// matters. A machine has fetched its config on a 200 answer to /ignition,
// /cloud or /generic, or to /ipxe or /grub when the profile served names no
// config to fetch next.
type FetchWaiter struct {
	Log      MachineLog
	Interval time.Duration // between polls; zero means 1s
}

// configKinds are the requests that fetch a machine's boot script or config.
var configKinds = map[string]bool{
	bootlog.KindIPXE: true, bootlog.KindGRUB: true,
	bootlog.KindIgnition: true, bootlog.KindCloud: true, bootlog.KindGeneric: true,
}

// Mark returns the Seq of the latest event in the boot service's log.
func (w *FetchWaiter) Mark(ctx context.Context) (uint64, error) { return w.Log.Mark(ctx) }

// WaitFetched polls until the log shows t fetching its config after the
// mark, the boot service refusing it (ErrConfigRefused), or ctx ends.
func (w *FetchWaiter) WaitFetched(ctx context.Context, t Target, mark uint64) error {
	interval := w.Interval
	if interval == 0 {
		interval = time.Second
	}
	var lastErr error
	seen := "nothing"
	for {
		done, last, err := w.fetched(ctx, t, mark)
		switch {
		case errors.Is(err, ErrConfigRefused) || done:
			return err
		case err != nil:
			lastErr = err
		case last != "":
			seen = last
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("no config fetch by %s logged after event %d (seen since: %s)", t.Name, mark, seen)
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

// fetched reads t's events after mark in the boot service's order. It
// returns whether t has fetched its config, and the last config request
// seen otherwise.
func (w *FetchWaiter) fetched(ctx context.Context, t Target, mark uint64) (bool, string, error) {
	records, err := w.Log.RecordsOf(ctx, t.MAC, t.UUID)
	if err != nil {
		return false, "", err
	}
	last := ""
	for _, r := range records {
		if !r.Is(t.MAC, t.UUID) {
			continue
		}
		for _, e := range r.Events {
			if e.Seq <= mark || !configKinds[e.Kind] {
				continue
			}
			last = fmt.Sprintf("%s %d (event %d)", e.Path, e.Status, e.Seq)
			switch {
			case e.Status != http.StatusOK:
				return false, last, fmt.Errorf("%w: GET %s answered %d %s (event %d): %s",
					ErrConfigRefused, e.Path, e.Status, http.StatusText(e.Status), e.Seq, e.Detail)
			case e.Config == "": // a script that sends the machine on to a config is not the config
				return true, last, nil
			}
		}
	}
	return false, last, nil
}
