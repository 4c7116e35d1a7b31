package fault

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// A partition is a chain of its own in the bridge family's filter table of
// the lab's namespace (ebtables, on nf_tables): frames between machines of
// different groups are dropped as the lab's bridge forwards them. Frames to
// and from the bridge itself (the gateway: checks, SSH, the boot service)
// are not forwarded, so every machine stays reachable from the gateway.

// chainOf is the partition's chain. ebtables allows 31 bytes: a longer id
// keeps its start and a hash of the whole, so two ids never share one.
func chainOf(id string) string {
	c := "LABCTL-" + strings.ToUpper(id)
	if len(c) > 31 {
		h := fnv.New32a()
		h.Write([]byte(id))
		c = fmt.Sprintf("%s-%08X", c[:22], h.Sum32())
	}
	return c
}

// Groups are the partition's sides: its groups, or the isolated machines
// and the rest.
func Groups(l *lab.Lab, f scenario.Fault) [][]string {
	if len(f.Groups) > 0 {
		return f.Groups
	}
	var rest []string
	for _, m := range l.Machines {
		if !slices.Contains(f.Machines, m.Name) {
			rest = append(rest, m.Name)
		}
	}
	return [][]string{f.Machines, rest}
}

func partition(ctx context.Context, env Env, id string, f scenario.Fault) error {
	l := env.Lab
	groups := Groups(l, f)
	// Probes before: a probe that already fails would prove nothing.
	pairs := crossing(l, groups)
	if err := env.probeAll(ctx, pairs, true); err != nil {
		return fmt.Errorf("before the partition: %w", err)
	}
	chain := chainOf(id)
	if err := ebtables(ctx, l, "-N", chain, "-P", "RETURN"); err != nil {
		return err
	}
	for _, p := range pairs {
		if err := ebtables(ctx, l, "-A", chain, "-s", p.from.MAC.String(), "-d", p.to.MAC.String(), "-j", "DROP"); err != nil {
			return err
		}
	}
	if err := ebtables(ctx, l, "-A", "FORWARD", "-j", chain); err != nil {
		return err
	}
	if err := env.probeAll(ctx, pairs, false); err != nil {
		return &NotEffectiveError{Fault: f.String(), Reason: err.Error()}
	}
	return nil
}

func unpartition(ctx context.Context, l *lab.Lab, id string) error {
	chain := chainOf(id)
	if err := haveEbtables(); err != nil {
		return err // not "healed": nothing could have been asked
	}
	if ebtables(ctx, l, "-L", chain) != nil {
		return nil // never made, or healed already
	}
	// The jump goes first, so no frame meets a half-emptied chain.
	ebtables(ctx, l, "-D", "FORWARD", "-j", chain) // absent if injecting stopped before it
	if err := ebtables(ctx, l, "-F", chain); err != nil {
		return err
	}
	return ebtables(ctx, l, "-X", chain)
}

type pair struct{ from, to lab.Machine }

// crossing lists every ordered pair of machines on different sides.
func crossing(l *lab.Lab, groups [][]string) []pair {
	var ps []pair
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					ma, _, _ := l.Machine(a)
					mb, _, _ := l.Machine(b)
					ps = append(ps, pair{ma, mb})
				}
			}
		}
	}
	return ps
}

// probeAll connects from each pair's first machine to the second's SSH
// port (bash's /dev/tcp, over SSH from the gateway) and fails unless every
// probe's outcome is want (true: connected).
func (env Env) probeAll(ctx context.Context, ps []pair, want bool) error {
	secs := int(env.probe().Seconds())
	errs := make([]error, len(ps))
	done := make(chan int)
	for i, p := range ps {
		go func() {
			defer func() { done <- i }()
			cmd := fmt.Sprintf("timeout %d bash -c 'exec 3<>/dev/tcp/%s/22' 2>&1 && echo crossed || echo blocked", secs, p.to.IP)
			out, _, err := env.Shell.Run(ctx, p.from, cmd)
			if err != nil {
				errs[i] = fmt.Errorf("probe %s → %s: %w", p.from.Name, p.to.Name, err)
				return
			}
			crossed := strings.Contains(out, "crossed")
			if crossed != want {
				what := map[bool]string{true: "crossed", false: "did not cross"}[crossed]
				errs[i] = fmt.Errorf("a probe from %s to %s:22 %s: %s", p.from.Name, p.to.IP, what, strings.TrimSpace(out))
			}
		}()
	}
	for range ps {
		<-done
	}
	for _, err := range errs {
		if err != nil {
			return err // the first says enough; the others are alike
		}
	}
	return nil
}
