package check

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/bootsvc/dnsmasq"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// fetched passes when m's firmware fetched want.File over want.Protocol and
// over no other: over http as the boot service's machine log shows it
// (UEFI HTTP boot), over tftp as dnsmasq's log does (PXE, to m's address).
// A fetch over the other protocol is the wrong path taken, which waiting
// will not undo.
func (r *Runner) fetched(ctx context.Context, want *scenario.FetchedExpect, m lab.Machine) (string, error) {
	byProto := map[string][]string{}
	if r.BootLog == nil {
		return "", errors.New("no boot service log to read fetches from")
	}
	machines, err := r.BootLog.Records(ctx)
	if err != nil {
		return "", err
	}
	for _, rec := range machines {
		if !rec.Is(m.MAC, m.UUID) {
			continue
		}
		for _, e := range rec.Events {
			if e.Kind == bootlog.KindFirmware && e.Status == 200 && path.Base(e.Path) == want.File && !e.Time.Before(r.Since[m.Name]) {
				byProto[scenario.ProtocolHTTP] = append(byProto[scenario.ProtocolHTTP], fmt.Sprintf("boot service: GET %s at %s", e.Path, e.Time.Format("15:04:05")))
			}
		}
	}
	if r.Lab != nil {
		ts, err := dnsmasq.TFTPTransfersIn(r.Lab.DnsmasqLog())
		if err != nil {
			return "", err
		}
		for _, t := range ts {
			if t.To == m.IP.String() && path.Base(t.File) == want.File {
				byProto[scenario.ProtocolTFTP] = append(byProto[scenario.ProtocolTFTP], fmt.Sprintf("dnsmasq: sent %s to %s", t.File, t.To))
			}
		}
	}
	for proto, seen := range byProto {
		if proto != want.Protocol {
			return strings.Join(seen, "\n"), fmt.Errorf("%w: %s fetched %s over %s, want over %s only (%s)", ErrHopeless, m.Name, want.File, proto, want.Protocol, seen[0])
		}
	}
	if seen := byProto[want.Protocol]; len(seen) > 0 {
		return fmt.Sprintf("%s over %s: %s", want.File, want.Protocol, strings.Join(seen, "; ")), nil
	}
	return "", fmt.Errorf("%s has not fetched %s over %s yet", m.Name, want.File, want.Protocol)
}
