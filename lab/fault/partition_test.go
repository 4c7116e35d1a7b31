package fault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
)

// segment is a lab's segment without VMs: a bridge in the lab's namespace
// and each "machine" a namespace of its own on a veth, with a listener on
// port 22 where sshd would be; commands run on it with ip netns exec.
type segment struct {
	lab *lab.Lab
	ns  map[string]string // machine → its namespace
}

func (s *segment) Run(ctx context.Context, m lab.Machine, cmd string) (string, int, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", s.ns[m.Name], "bash", "-c", cmd).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode(), nil
	}
	return string(out), 0, err
}

func newSegment(t *testing.T, names ...string) *segment {
	t.Helper()
	testenv.Privileged(t, "creates network namespaces, a bridge and veths")
	testenv.Tool(t, "ebtables", "iptables")
	ctx := context.Background()
	prefix := fmt.Sprintf("lt-fault-%d", os.Getpid())
	run := func(argv ...string) {
		t.Helper()
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
		}
	}
	mkns := func(name string) {
		if err := netns.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { netns.Delete(ctx, name) })
	}
	l := &lab.Lab{Name: "t", Netns: prefix, Network: lab.Network{Name: "labbr0"}}
	mkns(l.Netns)
	run("ip", "-n", l.Netns, "link", "add", "labbr0", "type", "bridge")
	run("ip", "-n", l.Netns, "addr", "add", "10.99.0.1/24", "dev", "labbr0")
	run("ip", "-n", l.Netns, "link", "set", "labbr0", "up")
	s := &segment{lab: l, ns: map[string]string{}}
	for i, name := range names {
		ns := prefix + "-" + name
		mkns(ns)
		mac, _ := net.ParseMAC(fmt.Sprintf("52:54:00:99:00:%02x", i+11))
		ip := netip.AddrFrom4([4]byte{10, 99, 0, byte(i + 11)})
		port := "p" + name
		run("ip", "-n", l.Netns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
		run("ip", "-n", l.Netns, "link", "set", port, "master", "labbr0", "up")
		run("ip", "-n", ns, "link", "set", "eth0", "address", mac.String(), "up")
		run("ip", "-n", ns, "addr", "add", ip.String()+"/24", "dev", "eth0")
		ln, err := netns.Listen(ns, "tcp", ":22")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		l.Machines = append(l.Machines, lab.Machine{Name: name, MAC: mac, IP: ip})
		s.ns[name] = ns
	}
	return s
}

// crosses reports whether machine from reaches to's port 22, dialled from
// its own namespace (not through the code under test).
func (s *segment) crosses(from, to string) bool {
	m, _, _ := s.lab.Machine(to)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := netns.Dial(ctx, s.ns[from], "tcp", net.JoinHostPort(m.IP.String(), "22"))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (s *segment) chains(t *testing.T) string {
	out, err := netns.Command(context.Background(), s.lab.Netns, "ebtables", "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("ebtables -L: %v: %s", err, out)
	}
	return string(out)
}

func TestPartition(t *testing.T) {
	s := newSegment(t, "a", "b", "c")
	env := Env{Lab: s.lab, Shell: s, Probe: time.Second}
	ctx := context.Background()
	for _, p := range [][2]string{{"a", "c"}, {"c", "a"}, {"a", "b"}} {
		if !s.crosses(p[0], p[1]) {
			t.Fatalf("%s does not reach %s before the partition", p[0], p[1])
		}
	}
	f := scenario.Fault{Kind: scenario.FaultPartition, Machines: []string{"c"}}
	if err := Inject(ctx, env, "cut-c", f); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{"a", "c"}, {"c", "a"}, {"b", "c"}} {
		if s.crosses(p[0], p[1]) {
			t.Errorf("%s reaches %s across the partition", p[0], p[1])
		}
	}
	if !s.crosses("a", "b") {
		t.Errorf("a no longer reaches b, on the same side")
	}
	if err := Heal(ctx, env, "cut-c", f); err != nil {
		t.Fatal(err)
	}
	if err := Heal(ctx, env, "cut-c", f); err != nil {
		t.Errorf("healing twice: %v", err)
	}
	if !s.crosses("a", "c") || !s.crosses("c", "b") {
		t.Errorf("the partition outlived its healing")
	}
	if out := s.chains(t); strings.Contains(out, "LABCTL") {
		t.Errorf("ebtables keeps the fault's chain after healing:\n%s", out)
	}
}

// TestPartitionNotEffective: rules that match nothing (the lab's record of
// c's MAC is wrong) let the probe through; the fault must fail, naming the
// probe, and leave nothing behind.
func TestPartitionNotEffective(t *testing.T) {
	s := newSegment(t, "a", "b", "c")
	s.lab.Machines[2].MAC, _ = net.ParseMAC("52:54:00:99:00:ff")
	env := Env{Lab: s.lab, Shell: s, Probe: time.Second}
	err := Inject(context.Background(), env, "cut-c", scenario.Fault{Kind: scenario.FaultPartition, Machines: []string{"c"}})
	var ne *NotEffectiveError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "did not take effect: a probe from") || !strings.Contains(err.Error(), "crossed") {
		t.Fatalf("err = %v, want a partition that did not take effect, naming the probe", err)
	}
	if out := s.chains(t); strings.Contains(out, "LABCTL") {
		t.Errorf("ebtables keeps the failed fault's chain:\n%s", out)
	}
}

// TestPartitionProbeProvesNothing: a machine unreachable before the
// partition is refused, since a failing probe would prove nothing.
func TestPartitionProbeProvesNothing(t *testing.T) {
	s := newSegment(t, "a", "b")
	s.lab.Machines[1].IP = netip.MustParseAddr("10.99.0.99") // nobody there
	env := Env{Lab: s.lab, Shell: s, Probe: time.Second}
	err := Inject(context.Background(), env, "cut-b", scenario.Fault{Kind: scenario.FaultPartition, Machines: []string{"b"}})
	if err == nil || !strings.Contains(err.Error(), "before the partition: a probe from a to 10.99.0.99:22 did not cross") {
		t.Fatalf("err = %v, want the refusal of a probe that fails before the partition", err)
	}
}

func TestChainOf(t *testing.T) {
	long1, long2 := chainOf("step-a-very-long-step-name-one"), chainOf("step-a-very-long-step-name-two")
	for _, c := range []string{chainOf("cut"), long1, long2} {
		if len(c) > 31 || !strings.HasPrefix(c, "LABCTL-") {
			t.Errorf("chain %q: want LABCTL-… of at most 31 bytes", c)
		}
	}
	if long1 == long2 {
		t.Errorf("two long ids share chain %s", long1)
	}
	if got := chainOf("cut"); got != "LABCTL-CUT" {
		t.Errorf("chainOf(cut) = %s", got)
	}
}
