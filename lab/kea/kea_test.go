package kea

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
)

func testConfig(dir string) Config {
	mac, _ := net.ParseMAC("52:54:00:79:00:11")
	return Config{
		Interface: "br0", Subnet: netip.MustParsePrefix("10.79.0.0/24"), Router: netip.MustParseAddr("10.79.0.1"),
		Domain:       "rack.lab",
		Reservations: []Reservation{{Hostname: "rack1", MAC: mac, IP: netip.MustParseAddr("10.79.0.11")}},
		LeaseFile:    filepath.Join(dir, "leases.csv"), LogFile: filepath.Join(dir, "kea.log"),
	}
}

// Kea itself accepts what Render writes.
func TestRenderKeaAccepts(t *testing.T) {
	bin := testenv.Tool(t, "kea-dhcp4", "kea-dhcp4-server")
	dir := t.TempDir()
	c := testConfig(dir)
	c.Interface = "lo" // kea-dhcp4 -t wants the interface to exist; this test has no namespace
	text, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"hw-address": "52:54:00:79:00:11"`, `"ip-address": "10.79.0.11"`, `"interfaces": [`, `"lo"`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("config lacks %s:\n%s", want, text)
		}
	}
	conf := filepath.Join(dir, "kea.conf")
	os.WriteFile(conf, text, 0o644)
	cmd := exec.Command(bin, "-t", conf)
	cmd.Env = append(os.Environ(), "KEA_PIDFILE_DIR="+dir, "KEA_LOCKFILE_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kea-dhcp4 -t: %v\n%s\n%s", err, out, text)
	}
}

func TestRenderRefuses(t *testing.T) {
	c := testConfig(t.TempDir())
	c.Reservations[0].IP = netip.MustParseAddr("10.80.0.11")
	if _, err := c.Render(); err == nil || !strings.Contains(err.Error(), "reservation 10.80.0.11 for 52:54:00:79:00:11 is outside 10.79.0.0/24") {
		t.Errorf("Render: %v, want a refusal naming the reservation", err)
	}
}

// Process runs Kea, restarts it when it is killed (telling OnExit), and
// stops it when its context ends.
func TestProcessSupervises(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root and a network namespace; runs kea-dhcp4")
	}
	testenv.Privileged(t, "runs kea-dhcp4 on a bridge in a network namespace")
	testenv.Tool(t, "kea-dhcp4", "kea-dhcp4-server")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := fmt.Sprintf("lt-kea-%08x", rand.Uint32())
	if err := netns.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Delete(context.Background(), ns)
	for _, l := range []string{"link add br0 type bridge", "addr add 10.79.0.1/24 dev br0", "link set br0 up"} {
		if out, err := exec.Command("ip", append([]string{"-n", ns}, strings.Fields(l)...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", l, err, out)
		}
	}
	dir := t.TempDir()
	// The wrapper execs, so the pid Process sees is Kea's, inside ns.
	wrapper := filepath.Join(dir, "kea-in-ns")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nexec ip netns exec "+ns+" kea-dhcp4 \"$@\"\n"), 0o755)
	var mu sync.Mutex
	var pids []int
	exits := 0
	p := &Process{Config: testConfig(dir), ConfigFile: filepath.Join(dir, "kea.conf"), RunDir: filepath.Join(dir, "run"),
		Binary: wrapper, Log: slog.New(slog.DiscardHandler),
		OnStart: func(pid int) { mu.Lock(); pids = append(pids, pid); mu.Unlock() },
		OnExit:  func(error) { mu.Lock(); exits++; mu.Unlock() }}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	// running is the nth pid recorded, once Kea logs that it serves.
	running := func(n int) int {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			var pid int
			if len(pids) >= n {
				pid = pids[n-1]
			}
			mu.Unlock()
			logText, _ := os.ReadFile(p.Config.LogFile)
			if pid != 0 && strings.Count(string(logText), "DHCP4_STARTED") >= (n+1)/2 {
				return pid
			}
			if time.Now().After(deadline) {
				t.Fatalf("Kea start %d not seen; pids %v\n%s", n, pids, logText)
			}
		}
	}
	first := running(1)
	syscall.Kill(first, syscall.SIGKILL)
	second := running(3) // pids: first, 0 (died), second
	if second == first {
		t.Fatalf("not restarted: pid %d", second)
	}
	mu.Lock()
	if exits != 1 {
		t.Errorf("OnExit called %d times, want 1", exits)
	}
	mu.Unlock()
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := syscall.Kill(second, 0); err == nil {
		t.Errorf("Kea (pid %d) still runs after the context ended", second)
	}
}
