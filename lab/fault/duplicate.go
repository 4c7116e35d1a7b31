package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
)

// A duplicate is a table of its own in the netdev family of the lab's
// namespace: on the egress of the bridge port each machine is on (found in
// the bridge's forwarding database by its MAC), a share of the frames
// leaving toward the machine is sent twice (`dup to` the same port). The
// copy carries a mark the chain lets pass, or it would be copied again.
// Frames to the machine only: a frame the machine sends can be copied
// back toward it, not into the bridge. No netem needed.

// dupMark marks a duplicate's copies ("labd").
const dupMark = 0x6c616264

func duplicate(ctx context.Context, env Env, id string, f scenario.Fault) error {
	l := env.Lab
	var ms []lab.Machine
	for _, name := range f.Machines {
		m, _, err := l.Machine(name)
		if err != nil {
			return err
		}
		// Before: the gateway reaches the machine (which also has the
		// bridge learn its port afresh), or probes would prove nothing.
		if err := env.reachWithin(ctx, m.IP, 3); err != nil {
			return fmt.Errorf("before the duplicate, the gateway does not reach %s's port 22, so probes would prove nothing: %w", m.Name, err)
		}
		ms = append(ms, m)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table netdev %s {\n", tableOf(id))
	for i, m := range ms {
		port, err := bridgePort(ctx, l, m)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "  chain to%d { type filter hook egress device %q priority 0; policy accept;\n", i, port)
		fmt.Fprintf(&b, "    meta mark %#x return\n", dupMark)
		fmt.Fprintf(&b, "    numgen random mod 100 < %d meta mark set %#x counter dup to %q comment %q\n  }\n", f.Percent, dupMark, port, m.Name)
	}
	b.WriteString("}\n")
	if _, err := nft(ctx, l, b.String(), "-f", "-"); err != nil {
		return err
	}
	// Proof: connections from the gateway, then the table's counters,
	// which say how many frames to each machine were sent twice.
	n := lossProbes(f.Percent)
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { env.probeMany(ctx, m, n) })
	}
	wg.Wait()
	copied, err := tableCounters(ctx, l, "netdev", tableOf(id), dupRule)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if copied[m.Name] == 0 {
			return &NotEffectiveError{Fault: f.String(), Reason: fmt.Sprintf("no frame to %s was sent twice in %d connections from the gateway", m.Name, n)}
		}
	}
	return nil
}

// dupRule is a duplicate's rule as nft lists it: how many copied, to
// which machine (its comment).
var dupRule = regexp.MustCompile(`counter packets (?P<packets>\d+) .*comment "(?P<key>[^"]+)"`)

// bridgePort is the port of the lab's bridge that m's frames arrive on,
// as the bridge learned it from m's MAC: the machine's tap, whichever
// provider made it and named it.
func bridgePort(ctx context.Context, l *lab.Lab, m lab.Machine) (string, error) {
	out, err := netns.Command(ctx, l.Netns, "bridge", "-j", "fdb", "show", "br", l.Network.Name).Output()
	if err != nil {
		return "", fmt.Errorf("bridge fdb show br %s: %w", l.Network.Name, err)
	}
	var fdb []struct {
		MAC    string `json:"mac"`
		IfName string `json:"ifname"`
	}
	if err := json.Unmarshal(out, &fdb); err != nil {
		return "", fmt.Errorf("bridge fdb show br %s: %w", l.Network.Name, err)
	}
	mac := strings.ToLower(m.MAC.String())
	for _, e := range fdb {
		if e.MAC == mac && e.IfName != l.Network.Name {
			return e.IfName, nil
		}
	}
	return "", fmt.Errorf("bridge %s has not learned the port of %s (MAC %s)", l.Network.Name, m.Name, mac)
}
