package reprovision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bootsvc"
)

// BootLog waits by polling a boot service's machine log, GET {URL}/machines:
// a JSON list of {"mac","uuid","events":[{"time","kind",...}]}. A machine has
// fetched its config when an event of kind "ignition" or "ipxe" newer than
// the power action appears.
type BootLog struct {
	URL      string // the boot service's base URL
	Client   *http.Client
	Interval time.Duration // between polls; zero means 1s
}

// fetchKinds are the events that show a machine fetching its config.
var fetchKinds = map[string]bool{bootsvc.KindIgnition: true, bootsvc.KindIPXE: true}

// WaitFetched polls until t shows a fetch after since, or ctx ends.
func (b *BootLog) WaitFetched(ctx context.Context, t Target, since time.Time) error {
	interval := b.Interval
	if interval == 0 {
		interval = time.Second
	}
	var lastErr error
	for {
		ok, err := b.fetched(ctx, t, since)
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

func (b *BootLog) fetched(ctx context.Context, t Target, since time.Time) (bool, error) {
	u := strings.TrimSuffix(b.URL, "/") + "/machines"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", u, err)
	}
	hc := b.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var machines []bootsvc.Machine
	if err := json.NewDecoder(resp.Body).Decode(&machines); err != nil {
		return false, fmt.Errorf("GET %s: decode: %w", u, err)
	}
	for _, m := range machines {
		if !m.Is(t.MAC, t.UUID) {
			continue
		}
		for _, e := range m.Events {
			if fetchKinds[e.Kind] && e.Time.After(since) {
				return true, nil
			}
		}
	}
	return false, nil
}
