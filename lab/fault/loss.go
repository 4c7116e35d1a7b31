package fault

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
)

// A loss is a table of its own in the bridge family of the lab's
// namespace (nftables): a share of the frames each machine sends is
// dropped as they enter the bridge (prerouting), and of those it receives
// as they leave it (postrouting), by nftables' random number generator.
// Both hooks see the gateway's frames too, so the machine's whole link is
// lossy, as with a bad cable or port; netem is not needed (this kernel has
// none).

// tableOf is the table of the fault id (a loss, a boot-path fault):
// nftables names are identifiers.
func tableOf(id string) string { return "labctl_" + strings.ReplaceAll(id, "-", "_") }

func haveNft() error {
	if _, err := exec.LookPath("nft"); err != nil {
		return errors.New("nft not found: install Debian's nftables package")
	}
	return nil
}

// nft runs nft in the lab's namespace; script, if not empty, is its input.
func nft(ctx context.Context, l *lab.Lab, script string, args ...string) (string, error) {
	if err := haveNft(); err != nil {
		return "", err
	}
	cmd := netns.Command(ctx, l.Netns, append([]string{"nft"}, args...)...)
	if script != "" {
		cmd.Stdin = strings.NewReader(script)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nft %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func loss(ctx context.Context, env Env, id string, f scenario.Fault) error {
	l := env.Lab
	var ms []lab.Machine
	var b strings.Builder
	table := tableOf(id)
	fmt.Fprintf(&b, "table bridge %s {\n", table)
	fmt.Fprintf(&b, "  chain pre { type filter hook prerouting priority -200; policy accept;\n")
	for _, name := range f.Machines {
		m, _, err := l.Machine(name)
		if err != nil {
			return err
		}
		ms = append(ms, m)
		fmt.Fprintf(&b, "    ether saddr %s numgen random mod 100 < %d counter drop\n", m.MAC, f.Percent)
	}
	fmt.Fprintf(&b, "  }\n  chain post { type filter hook postrouting priority 200; policy accept;\n")
	for _, m := range ms {
		fmt.Fprintf(&b, "    ether daddr %s numgen random mod 100 < %d counter drop\n", m.MAC, f.Percent)
	}
	fmt.Fprintf(&b, "  }\n}\n")
	// Before: the gateway reaches each machine, or probes would prove nothing.
	for _, m := range ms {
		if err := env.reachWithin(ctx, m.IP, 3); err != nil {
			return fmt.Errorf("before the loss, the gateway does not reach %s's port 22, so probes would prove nothing: %w", m.Name, err)
		}
	}
	if err := haveNft(); err != nil {
		return err
	}
	if _, err := nft(ctx, l, b.String(), "-f", "-"); err != nil {
		return err
	}
	// Proof: probes from the gateway, then the table's own counters, which
	// say how many of each machine's frames the kernel dropped.
	n := lossProbes(f.Percent)
	got := make([]int, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() { got[i] = env.probeMany(ctx, m, n) })
	}
	wg.Wait()
	dropped, err := tableCounters(ctx, l, "bridge", table, lossRule)
	if err != nil {
		return err
	}
	for i, m := range ms {
		if dropped[strings.ToLower(m.MAC.String())] == 0 {
			return &NotEffectiveError{Fault: f.String(), Reason: fmt.Sprintf("no frame of %s was dropped in %d probes from the gateway (%d connected)", m.Name, n, got[i])}
		}
	}
	return nil
}

// reachWithin tries reach up to tries times: a first connection through a
// fresh bridge or to a loaded guest may miss one probe's time.
func (env Env) reachWithin(ctx context.Context, ip netip.Addr, tries int) error {
	var err error
	for range tries {
		if err = env.reach(ctx, ip); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// lossProbes is how many connections to send so that a loss of percent
// drops some frame of them but once in thousands of runs: each connection
// crosses the link at least twice (SYN, SYN-ACK).
func lossProbes(percent int) int {
	p := float64(percent) / 100
	hit := 1 - (1-p)*(1-p)
	return min(500, max(20, int(math.Ceil(8/hit))))
}

// probeMany connects n times from the gateway to m's port 22, 50 at a
// time, and returns how many connected.
func (env Env) probeMany(ctx context.Context, m lab.Machine, n int) int {
	var ok atomic.Int32
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			c, err := netns.Dial(pctx, env.Lab.Netns, "tcp", net.JoinHostPort(m.IP.String(), "22"))
			if err == nil {
				c.Close()
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return int(ok.Load())
}

// lossRule is a loss's rule as nft lists it: whose MAC, how many dropped.
var lossRule = regexp.MustCompile(`ether [sd]addr (?P<key>[0-9a-f:]{17}) .*counter packets (?P<packets>\d+)`)

// tableCounters sums the packets counted by the rules of a fault's table
// (family, table) by what rule captures as key: a loss's MAC, a
// duplicate's machine.
func tableCounters(ctx context.Context, l *lab.Lab, family, table string, rule *regexp.Regexp) (map[string]int, error) {
	out, err := nft(ctx, l, "", "list", "table", family, table)
	if err != nil {
		return nil, err
	}
	key, packets := rule.SubexpIndex("key"), rule.SubexpIndex("packets")
	counted := map[string]int{}
	for _, m := range rule.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[packets])
		counted[m[key]] += n
	}
	return counted, nil
}

// dropTable heals a fault that is a table of its own (a loss, a
// duplicate, a boot-path fault): it deletes the fault's table of family
// from the lab's namespace. A table never made, or healed already, is
// healed.
func dropTable(ctx context.Context, l *lab.Lab, family, id string) error {
	if err := haveNft(); err != nil {
		return err // not "healed": nothing could have been asked
	}
	table := tableOf(id)
	if _, err := nft(ctx, l, "", "list", "table", family, table); err != nil {
		return nil
	}
	_, err := nft(ctx, l, "", "delete", "table", family, table)
	return err
}
