package fault

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
)

// connects counts how many of n connections from the gateway reach
// machine's port 22 (dialled here, not through the code under test).
func (s *segment) connects(machine string, n int) int {
	m, _, _ := s.lab.Machine(machine)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if c, err := netns.Dial(ctx, s.lab.Netns, "tcp", net.JoinHostPort(m.IP.String(), "22")); err == nil {
				c.Close()
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return int(ok.Load())
}

func (s *segment) ruleset(t *testing.T) string {
	out, err := nft(context.Background(), s.lab, "", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLoss drops 50% of one machine's frames on a real bridge: proven by
// the table's counters when injected, seen as failed connections to it
// (and none to its neighbour), gone once healed.
func TestLoss(t *testing.T) {
	s := newSegment(t, "a", "b")
	testenv.Tool(t, "nft", "nftables")
	env := Env{Lab: s.lab, Shell: s, Probe: time.Second}
	ctx := context.Background()
	f := scenario.Fault{Kind: scenario.FaultLoss, Machines: []string{"b"}, Percent: 50}
	if err := Inject(ctx, env, "lossy-b", f); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.ruleset(t), "table bridge labctl_lossy_b") {
		t.Errorf("no table of the loss in the lab's namespace:\n%s", s.ruleset(t))
	}
	// 40 connections each crossing the link twice at 50%: all 40 getting
	// through happens once in 10^5 runs.
	if got := s.connects("b", 40); got == 40 {
		t.Errorf("all 40 connections to b got through a 50%% loss")
	}
	if got := s.connects("a", 20); got != 20 {
		t.Errorf("%d of 20 connections to a, which has no loss, got through", got)
	}
	if err := Heal(ctx, env, "lossy-b", f); err != nil {
		t.Fatal(err)
	}
	if err := Heal(ctx, env, "lossy-b", f); err != nil {
		t.Errorf("healing twice: %v", err)
	}
	if out := s.ruleset(t); strings.Contains(out, "labctl") {
		t.Errorf("the loss's table outlived its healing:\n%s", out)
	}
	if got := s.connects("b", 20); got != 20 {
		t.Errorf("healed, %d of 20 connections to b got through", got)
	}
}

// TestLossNotEffective: rules for a MAC that is not the machine's drop
// nothing; the fault fails naming the machine and leaves nothing behind.
func TestLossNotEffective(t *testing.T) {
	s := newSegment(t, "a", "b")
	testenv.Tool(t, "nft", "nftables")
	s.lab.Machines[1].MAC, _ = net.ParseMAC("52:54:00:99:00:ff")
	env := Env{Lab: s.lab, Shell: s, Probe: time.Second}
	err := Inject(context.Background(), env, "lossy-b", scenario.Fault{Kind: scenario.FaultLoss, Machines: []string{"b"}, Percent: 30})
	var ne *NotEffectiveError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "no frame of b was dropped in 20 probes from the gateway (20 connected)") {
		t.Fatalf("err = %v, want a loss that did not take effect, naming the machine and the probes", err)
	}
	if out := s.ruleset(t); strings.Contains(out, "labctl") {
		t.Errorf("the failed loss's table was left behind:\n%s", out)
	}
}

func TestLossProbes(t *testing.T) {
	for _, tt := range []struct{ percent, want int }{{30, 20}, {100, 20}, {5, 83}, {1, 403}} {
		if got := lossProbes(tt.percent); got != tt.want {
			t.Errorf("lossProbes(%d) = %d, want %d", tt.percent, got, tt.want)
		}
	}
}
