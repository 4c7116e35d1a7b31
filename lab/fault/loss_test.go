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

// TestDuplicate sends 50% of the frames to one machine twice on a real
// bridge: proven by the table's counters when injected, seen as extra
// datagrams arriving at it (and none extra at its neighbour), gone once
// healed.
func TestDuplicate(t *testing.T) {
	s := newSegment(t, "a", "b")
	testenv.Tool(t, "nft", "nftables")
	env := Env{Lab: s.lab, Shell: s, Probe: time.Second}
	ctx := context.Background()
	f := scenario.Fault{Kind: scenario.FaultDuplicate, Machines: []string{"b"}, Percent: 50}
	if err := Inject(ctx, env, "dup-b", f); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.ruleset(t), "table netdev labctl_dup_b") {
		t.Errorf("no table of the duplicate in the lab's namespace:\n%s", s.ruleset(t))
	}
	// 40 datagrams at 50%: none sent twice happens once in 10^12 runs.
	if got := s.datagrams(t, "b", 40); got <= 40 {
		t.Errorf("b received %d of 40 datagrams under a 50%% duplicate, want more", got)
	}
	if got := s.datagrams(t, "a", 20); got != 20 {
		t.Errorf("a, without a duplicate, received %d of 20 datagrams", got)
	}
	for range 2 { // healing twice is no error
		if err := Heal(ctx, env, "dup-b", f); err != nil {
			t.Fatal(err)
		}
	}
	if out := s.ruleset(t); strings.Contains(out, "labctl") {
		t.Errorf("the duplicate's table outlived its healing:\n%s", out)
	}
	if got := s.datagrams(t, "b", 20); got != 20 {
		t.Errorf("healed, b received %d of 20 datagrams", got)
	}
}

// datagrams sends n UDP datagrams from the gateway to machine and counts
// those that arrive (received in its namespace, not through the code
// under test).
func (s *segment) datagrams(t *testing.T, machine string, n int) int {
	t.Helper()
	m, _, _ := s.lab.Machine(machine)
	addr := net.JoinHostPort(m.IP.String(), "9")
	ln, err := netns.ListenPacket(s.ns[machine], "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := netns.Dial(context.Background(), s.lab.Netns, "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	buf := make([]byte, 16)
	for {
		ln.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, _, err := ln.ReadFrom(buf); err != nil {
			return got
		}
		got++
	}
}

// A machine the bridge has not seen (its MAC on no port) is refused naming
// it and the bridge, and nothing is left behind.
func TestDuplicateUnknownPort(t *testing.T) {
	s := newSegment(t, "a", "b")
	testenv.Tool(t, "nft", "nftables")
	s.lab.Machines[1].MAC, _ = net.ParseMAC("52:54:00:99:00:ff")
	env := Env{Lab: s.lab, Shell: s, Probe: time.Second}
	err := Inject(context.Background(), env, "dup-b", scenario.Fault{Kind: scenario.FaultDuplicate, Machines: []string{"b"}, Percent: 30})
	if err == nil || !strings.Contains(err.Error(), "inject duplicate b 30%: bridge labbr0 has not learned the port of b (MAC 52:54:00:99:00:ff)") {
		t.Fatalf("err = %v, want the machine and the bridge named", err)
	}
	if out := s.ruleset(t); strings.Contains(out, "labctl") {
		t.Errorf("the refused duplicate left a table:\n%s", out)
	}
}
