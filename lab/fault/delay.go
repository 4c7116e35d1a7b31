package fault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netem"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
)

// delayProbes is how many connections from the gateway time a machine's
// link, before and after a delay: their median is what is compared.
const delayProbes = 5

// LinkShaper delays or reorders the frames a machine sends, in the lab
// process that relays them (netem.Client).
type LinkShaper interface {
	Set(ctx context.Context, machine string, s netem.Shape) (netem.Status, error)
	Clear(ctx context.Context, machine string) (netem.Status, error)
}

// delay holds each frame the machine sends for f.Delay (± f.Jitter) and
// proves it: a connection from the gateway to its SSH port waits for the
// machine's SYN-ACK, so the median of the connections after must exceed
// the median before by half the delay at least.
func delay(ctx context.Context, env Env, f scenario.Fault) error {
	d := time.Duration(f.Delay)
	return shapeEach(env, f, func(ls LinkShaper, m lab.Machine) error {
		before, err := env.connectTime(ctx, m)
		if err != nil {
			return fmt.Errorf("before the delay, the gateway does not reach its port 22, so probes would prove nothing: %w", err)
		}
		if _, err := ls.Set(ctx, m.Name, netem.Shape{Delay: d, Jitter: time.Duration(f.Jitter)}); err != nil {
			return err
		}
		after, err := env.connectTime(ctx, m)
		if err != nil {
			return fmt.Errorf("under the delay: %w", err)
		}
		if after < before+d/2 {
			return &NotEffectiveError{Fault: f.String(), Reason: fmt.Sprintf("connections from the gateway to %s took %s before and %s after (median of %d): a delay of %s adds about %s",
				m.Name, before.Round(time.Millisecond), after.Round(time.Millisecond), delayProbes, d, d)}
		}
		return nil
	})
}

// shapeEach runs fn for each of f's machines, with the lab process's
// relays to shape its link.
func shapeEach(env Env, f scenario.Fault, fn func(ls LinkShaper, m lab.Machine) error) error {
	if env.Links == nil {
		return errors.New("no link relays (the lab's machines are not labctl's to delay)")
	}
	return onEach(f.Machines, func(name string) error {
		m, _, err := env.Lab.Machine(name)
		if err != nil {
			return err
		}
		return fn(env.Links, m)
	})
}

// Echo bursts prove a reorder: echoBurst requests to the machine, one
// every echoGap (well under any delay, so the replies held are still held
// when those sent at once overtake them), up to echoBursts bursts until
// the replies come back out of order.
const (
	echoBurst  = 50
	echoGap    = 2 * time.Millisecond
	echoBursts = 10
)

// reorder sends f.Percent of the frames the machine sends at once and
// holds the rest f.Delay, and proves it from the gateway: the replies to a
// burst of echo requests, in order before, arrive out of order after.
func reorder(ctx context.Context, env Env, f scenario.Fault) error {
	d := time.Duration(f.Delay)
	return shapeEach(env, f, func(ls LinkShaper, m lab.Machine) error {
		if got, _, err := echoOrder(ctx, env.Lab.Netns, m.IP, d); err != nil || got == 0 {
			return fmt.Errorf("before the reorder, the gateway's echo requests to %s are not answered (%d replies, %v), so probes would prove nothing", m.IP, got, err)
		}
		if _, err := ls.Set(ctx, m.Name, netem.Shape{Delay: d, Reorder: f.Percent}); err != nil {
			return err
		}
		replies := 0
		for range echoBursts {
			got, inversions, err := echoOrder(ctx, env.Lab.Netns, m.IP, d)
			if err != nil {
				return fmt.Errorf("under the reorder: %w", err)
			}
			if inversions > 0 {
				return nil
			}
			replies += got
		}
		return &NotEffectiveError{Fault: f.String(), Reason: fmt.Sprintf("%d bursts of %d echo requests from the gateway to %s: all %d replies came back in order",
			echoBursts, echoBurst, m.Name, replies)}
	})
}

// echoOrder sends a burst of echo requests from the gateway to addr and
// counts the replies and how many of them came after a later one.
func echoOrder(ctx context.Context, ns string, addr netip.Addr, held time.Duration) (replies, inversions int, err error) {
	network, laddr, proto := "ip4:icmp", "0.0.0.0", 1
	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if addr.Is6() {
		network, laddr, proto = "ip6:ipv6-icmp", "::", 58
		reqType, replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var c *icmp.PacketConn
	if err := netns.Do(ns, func() (err error) {
		c, err = icmp.ListenPacket(network, laddr)
		return err
	}); err != nil {
		return 0, 0, fmt.Errorf("echo socket in namespace %s: %w", ns, err)
	}
	defer c.Close()
	id := rand.IntN(0xffff)
	dst := &net.IPAddr{IP: addr.AsSlice()}
	for seq := range echoBurst {
		msg := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("labctl reorder probe")}}
		b, err := msg.Marshal(nil) // the kernel sums ICMPv6's
		if err != nil {
			return 0, 0, err
		}
		if _, err := c.WriteTo(b, dst); err != nil {
			return 0, 0, fmt.Errorf("echo request to %s: %w", addr, err)
		}
		time.Sleep(echoGap)
	}
	// The replies held arrive within the delay (and a scheduler's slack).
	deadline := time.Now().Add(held + 500*time.Millisecond)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	last := -1
	for replies < echoBurst {
		n, from, err := c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return replies, inversions, err
		}
		msg, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || msg.Type != replyType || from.String() != addr.String() {
			continue
		}
		echo, ok := msg.Body.(*icmp.Echo)
		if !ok || echo.ID != id {
			continue
		}
		replies++
		if echo.Seq < last {
			inversions++
		}
		last = max(last, echo.Seq)
	}
	return replies, inversions, nil
}

// connectTime is the median time of delayProbes connections, one after
// another, from the gateway to m's port 22.
func (env Env) connectTime(ctx context.Context, m lab.Machine) (time.Duration, error) {
	times := make([]time.Duration, delayProbes)
	for i := range times {
		pctx, cancel := context.WithTimeout(ctx, env.probe())
		begin := time.Now()
		c, err := netns.Dial(pctx, env.Lab.Netns, "tcp", net.JoinHostPort(m.IP.String(), "22"))
		times[i] = time.Since(begin)
		cancel()
		if err != nil {
			return 0, err
		}
		c.Close()
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}
