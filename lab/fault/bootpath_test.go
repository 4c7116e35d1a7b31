package fault

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/dnsmasq"
	"github.com/labctl/labctl/bootsvc/outage"
	"github.com/labctl/labctl/internal/tail"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
)

// bootPathSegment is a segment whose gateway serves the real boot service
// (an empty data directory) on its port, its outage API on a Unix socket
// (returned), and the real dnsmasq, as a lab process does, with a
// reservation for machine a.
func bootPathSegment(t *testing.T) (*segment, string) {
	s := newSegment(t, "a")
	testenv.Tool(t, "nft", "nftables")
	testenv.Tool(t, "dnsmasq", "dnsmasq-base")
	testenv.Tool(t, "busybox", "busybox-static")
	l := s.lab
	l.Network = lab.Network{Name: "labbr0", Subnet: netip.MustParsePrefix("10.99.0.0/24"), Gateway: netip.MustParseAddr("10.99.0.1"), Domain: "t.lab"}

	sw := &outage.Switch{Exempt: []netip.Addr{l.Network.Gateway}}
	boot, err := bootsvc.New(bootsvc.Config{DataDir: t.TempDir(), Outage: sw, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := netns.Listen(l.Netns, "tcp", l.BootAddr())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: boot.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	sock := filepath.Join(t.TempDir(), "boot-faults.sock")
	uln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	api := &http.Server{Handler: outage.Handler(sw)}
	go api.Serve(uln)
	t.Cleanup(func() { api.Close() })

	dir := t.TempDir()
	m := l.Machines[0]
	cfg := dnsmasq.Config{Interface: "labbr0", Subnet: l.Network.Subnet, Gateway: l.Network.Gateway, Domain: "t.lab",
		Hosts:    []dnsmasq.Host{{Name: m.Name, MAC: m.MAC, IP: m.IP}},
		TFTPRoot: filepath.Join(dir, "tftp"), BootURL: l.BootBaseURL() + "/boot.ipxe",
		LogFile: filepath.Join(dir, "dnsmasq.log"), LeaseFile: filepath.Join(dir, "leases")}
	os.MkdirAll(cfg.TFTPRoot, 0o755)
	wrapper := filepath.Join(dir, "dnsmasq-in-ns")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nexec ip netns exec "+l.Netns+" dnsmasq \"$@\"\n"), 0o755)
	p := &dnsmasq.Process{Config: cfg, ConfigFile: filepath.Join(dir, "dnsmasq.conf"), Binary: wrapper,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	// Up once its TFTP answers.
	env := Env{Lab: l, Probe: 500 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	for env.tftpProbe(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("dnsmasq's TFTP did not answer within 15s:\n%s", tail.File(cfg.LogFile, 20))
		}
	}
	return s, sock
}

// lease asks dnsmasq for a's lease from a's namespace (busybox udhcpc, 2
// tries of 1 s): whether it got one.
func (s *segment) lease(t *testing.T) bool {
	out, err := netns.Command(context.Background(), s.ns["a"], "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "2", "-T", "1", "-s", "/bin/true").CombinedOutput()
	t.Logf("udhcpc: %v: %s", err, strings.TrimSpace(string(out)))
	return err == nil
}

// bootServiceFrom connects to the boot service's port from machine a's
// namespace (as the machine's iPXE would) and from the gateway's own
// address (as the lab's own clients do).
func (s *segment) bootServiceFrom(ns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := netns.Dial(ctx, ns, "tcp", s.lab.BootAddr())
	if err == nil {
		c.Close()
	}
	return err
}

// healthz asks the boot service for /healthz from namespace ns.
func (s *segment) healthz(t *testing.T, ns string) int {
	hc := netns.HTTPClient(ns, 2*time.Second)
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(s.lab.BootBaseURL() + "/healthz")
	if err != nil {
		t.Errorf("GET /healthz from %s: %v", ns, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBootPathFaults takes the boot service and then DHCP and TFTP away
// from a machine on a real bridge, with the real dnsmasq: each is proven
// when injected, seen by the machine (its connection refused, its DHCP
// unanswered) while the gateway's own connections go through, and gone
// once healed; then the boot service answers it 500 (its requests only).
func TestBootPathFaults(t *testing.T) {
	s, sock := bootPathSegment(t)
	env := Env{Lab: s.lab, Probe: time.Second, BootOutage: outage.Client{Socket: sock}}
	ctx := context.Background()

	down := scenario.Fault{Kind: scenario.FaultBootServiceDown}
	if err := Inject(ctx, env, "boot-down", down); err != nil {
		t.Fatal(err)
	}
	if err := s.bootServiceFrom(s.ns["a"]); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("machine a connecting to the boot service under boot-service-down: %v, want connection refused", err)
	}
	if err := s.bootServiceFrom(s.lab.Netns); err != nil {
		t.Errorf("the gateway's own connection to the boot service was refused: %v", err)
	}
	if err := Heal(ctx, env, "boot-down", down); err != nil {
		t.Fatal(err)
	}
	if err := Heal(ctx, env, "boot-down", down); err != nil {
		t.Errorf("healing twice: %v", err)
	}
	if err := s.bootServiceFrom(s.ns["a"]); err != nil {
		t.Errorf("healed, machine a still cannot connect to the boot service: %v", err)
	}

	failing := scenario.Fault{Kind: scenario.FaultBootServiceError, Status: 500}
	if err := Inject(ctx, env, "boot-failing", failing); err != nil {
		t.Fatal(err)
	}
	if code := s.healthz(t, s.ns["a"]); code != 500 {
		t.Errorf("machine a asking the boot service under boot-service-error 500: %d", code)
	}
	if code := s.healthz(t, s.lab.Netns); code != 200 {
		t.Errorf("the gateway's own request under boot-service-error: %d, want 200", code)
	}
	if err := Heal(ctx, env, "boot-failing", failing); err != nil {
		t.Fatal(err)
	}
	if code := s.healthz(t, s.ns["a"]); code != 200 {
		t.Errorf("healed, machine a is answered %d", code)
	}
	gone := env
	gone.BootOutage = outage.Client{Socket: filepath.Join(t.TempDir(), "none.sock")}
	if err := Heal(ctx, gone, "boot-failing", failing); err != nil {
		t.Errorf("heal with no lab process: %v", err)
	}

	if !s.lease(t) {
		t.Fatal("machine a gets no lease before the fault")
	}
	dhcp := scenario.Fault{Kind: scenario.FaultDHCPDown}
	if err := Inject(ctx, env, "no-dhcp", dhcp); err != nil {
		t.Fatal(err)
	}
	if s.lease(t) {
		t.Errorf("machine a got a lease under dhcp-down")
	}
	if err := s.bootServiceFrom(s.ns["a"]); err != nil {
		t.Errorf("dhcp-down took the boot service too: %v", err)
	}
	if err := Heal(ctx, env, "no-dhcp", dhcp); err != nil {
		t.Fatal(err)
	}
	if out := s.ruleset(t); strings.Contains(out, "labctl") {
		t.Errorf("a boot-path fault's table outlived its healing:\n%s", out)
	}
	if !s.lease(t) {
		t.Errorf("healed, machine a gets no lease")
	}
}

// TestBootPathFaultNotEffective: a fault whose service did not answer
// before it is refused, as its probe would prove nothing.
func TestBootPathFaultNotEffective(t *testing.T) {
	s := newSegment(t, "a")
	testenv.Tool(t, "nft", "nftables")
	s.lab.Network = lab.Network{Name: "labbr0", Subnet: netip.MustParsePrefix("10.99.0.0/24"), Gateway: netip.MustParseAddr("10.99.0.1")}
	env := Env{Lab: s.lab, Probe: 300 * time.Millisecond}
	err := Inject(context.Background(), env, "boot-down", scenario.Fault{Kind: scenario.FaultBootServiceDown})
	if err == nil || !strings.Contains(err.Error(), "before the boot-service-down, the boot service at 10.99.0.1:8080 does not answer, so the probe would prove nothing") {
		t.Errorf("inject with no boot service: %v", err)
	}
	if out := s.ruleset(t); strings.Contains(out, "labctl") {
		t.Errorf("a refused fault left its table:\n%s", out)
	}
}
