package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/bootsvc/dnsmasq"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// fetched passes when m's firmware fetched want.File over want.Protocol and
// over no other: over http or https as the boot service's machine log
// shows it (UEFI HTTP boot), over tftp as dnsmasq's log does (PXE, to m's address).
// A fetch over the other protocol is the wrong path taken, which waiting
// will not undo. With want.Family (ipv4, ipv6) the fetch must also have come
// from an address of that family: over http the one the boot service saw
// m fetch its boot script (/ipxe) from, over tftp the one dnsmasq sent to.
// Over http, File may also name the boot script iPXE fetches (ipxe).
func (r *Runner) fetched(ctx context.Context, want *scenario.FetchedExpect, m lab.Machine) (string, error) {
	byProto := map[string][]string{}
	if r.BootLog == nil {
		return "", errors.New("no boot service log to read fetches from")
	}
	machines, err := r.BootLog.Records(ctx)
	if err != nil {
		return "", err
	}
	from := map[string]string{} // protocol -> the address a fetch came from
	for _, rec := range machines {
		if !rec.Is(m.MAC, m.UUID) {
			continue
		}
		for _, e := range rec.Events {
			if byFirmware(e.Kind) && e.Status == 200 && path.Base(e.Path) == want.File && !e.Time.Before(r.Since[m.Name]) {
				proto := scenario.ProtocolHTTP
				if e.Kind == bootlog.KindFirmware {
					proto = bootlog.FirmwareProtocol(e)
				}
				byProto[proto] = append(byProto[proto], fmt.Sprintf("boot service: GET %s at %s", e.Path, e.Time.Format("15:04:05")))
				from[proto] = rec.IP
			}
		}
	}
	if r.Lab != nil {
		ts, err := dnsmasq.TFTPTransfersIn(r.Lab.DnsmasqLog())
		if err != nil {
			return "", err
		}
		for _, t := range ts {
			to, err := netip.ParseAddr(t.To)
			if err == nil && (to == m.IP || to == m.IP6) && path.Base(t.File) == want.File {
				byProto[scenario.ProtocolTFTP] = append(byProto[scenario.ProtocolTFTP], fmt.Sprintf("dnsmasq: sent %s to %s", t.File, t.To))
				from[scenario.ProtocolTFTP] = t.To
			}
		}
	}
	for proto, seen := range byProto {
		if proto != want.Protocol {
			return strings.Join(seen, "\n"), fmt.Errorf("%w: %s fetched %s over %s, want over %s only (%s)", ErrHopeless, m.Name, want.File, proto, want.Protocol, seen[0])
		}
	}
	if seen := byProto[want.Protocol]; len(seen) > 0 {
		if want.Family == "" {
			return fmt.Sprintf("%s over %s: %s", want.File, want.Protocol, strings.Join(seen, "; ")), nil
		}
		addr := from[want.Protocol]
		ip, err := netip.ParseAddr(addr)
		switch {
		case err != nil:
			// The boot service records the address with the boot script.
			return "", fmt.Errorf("%s fetched %s over %s, but from no address known yet", m.Name, want.File, want.Protocol)
		case family(ip) != want.Family:
			return seen[0], fmt.Errorf("%w: %s fetched %s over %s from %s, an %s address, want %s (%s)", ErrHopeless, m.Name, want.File, want.Protocol, ip, family(ip), want.Family, seen[0])
		}
		return fmt.Sprintf("%s over %s from %s (%s): %s", want.File, want.Protocol, ip, want.Family, strings.Join(seen, "; ")), nil
	}
	return "", fmt.Errorf("%s has not fetched %s over %s yet", m.Name, want.File, want.Protocol)
}

// byFirmware says whether a boot service event is a fetch by the machine's
// boot firmware: the EFI binary of UEFI HTTP boot, or iPXE's boot scripts.
func byFirmware(kind string) bool {
	return kind == bootlog.KindFirmware || kind == bootlog.KindIPXE || kind == bootlog.KindBootIPXE
}

// family names ip's address family as scenarios do.
func family(ip netip.Addr) string {
	if ip.Unmap().Is4() {
		return scenario.FamilyIPv4
	}
	return scenario.FamilyIPv6
}
