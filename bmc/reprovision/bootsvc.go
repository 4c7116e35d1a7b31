package reprovision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bootsvc"
)

// ErrConfigRefused is the boot service answering a machine's config fetch
// with an error (a broken template, no matching group): the machine booted
// but got no config, so waiting longer would not help.
var ErrConfigRefused = errors.New("the boot service refused the machine's config")

// BootLog waits by polling a boot service's machine log, GET
// {URL}/machines?mac=..&uuid=.. (see bootsvc.Machine). Only events the boot
// service numbered after the mark count, so no clock but its own matters.
// A machine has fetched its config on a 200 answer to /ignition, /cloud or
// /generic, or to /ipxe or /grub when the profile served names no config
// to fetch next.
type BootLog struct {
	URL      string // the boot service's base URL
	Client   *http.Client
	Interval time.Duration // between polls; zero means 1s
}

// configKinds are the requests that fetch a machine's boot script or config.
var configKinds = map[string]bool{
	bootsvc.KindIPXE: true, bootsvc.KindGRUB: true,
	bootsvc.KindIgnition: true, bootsvc.KindCloud: true, bootsvc.KindGeneric: true,
}

// Mark returns the Seq of the latest event in the boot service's log.
func (b *BootLog) Mark(ctx context.Context) (uint64, error) {
	resp, err := b.get(ctx, http.MethodHead, nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	h := resp.Header.Get(bootsvc.SeqHeader)
	seq, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("HEAD %s: header %s is %q, not a sequence number (is it labctl's boot service?)", b.machinesURL(nil), bootsvc.SeqHeader, h)
	}
	return seq, nil
}

// WaitFetched polls until the log shows t fetching its config after the
// mark, the boot service refusing it (ErrConfigRefused), or ctx ends.
func (b *BootLog) WaitFetched(ctx context.Context, t Target, mark uint64) error {
	interval := b.Interval
	if interval == 0 {
		interval = time.Second
	}
	var lastErr error
	seen := "nothing"
	for {
		done, last, err := b.fetched(ctx, t, mark)
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
func (b *BootLog) fetched(ctx context.Context, t Target, mark uint64) (bool, string, error) {
	q := url.Values{}
	if len(t.MAC) > 0 {
		q.Set("mac", t.MAC.String())
	}
	if t.UUID != "" {
		q.Set("uuid", t.UUID)
	}
	resp, err := b.get(ctx, http.MethodGet, q)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	var machines []bootsvc.Machine
	if err := json.NewDecoder(resp.Body).Decode(&machines); err != nil {
		return false, "", fmt.Errorf("GET %s: decode: %w", b.machinesURL(q), err)
	}
	last := ""
	for _, m := range machines {
		if !m.Is(t.MAC, t.UUID) {
			continue
		}
		for _, e := range m.Events {
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

func (b *BootLog) machinesURL(q url.Values) string {
	u := strings.TrimSuffix(b.URL, "/") + "/machines"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func (b *BootLog) get(ctx context.Context, method string, q url.Values) (*http.Response, error) {
	u := b.machinesURL(q)
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	hc := b.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	return resp, nil
}
