package dnsmasq

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
)

// TestRealDnsmasq runs the generated config in a real dnsmasq inside a
// namespace and has busybox's udhcpc, in a second namespace over a veth,
// ask for an address as a BIOS PXE ROM, as UEFI firmware and as iPXE would.
func TestRealDnsmasq(t *testing.T) {
	if testing.Short() {
		t.Skip("runs dnsmasq and udhcpc in two network namespaces")
	}
	testenv.Privileged(t, "network namespaces and a veth pair")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := rand.Uint32()
	server, client := fmt.Sprintf("lt-dnsmasq-s%08x", id), fmt.Sprintf("lt-dnsmasq-c%08x", id)
	for _, ns := range []string{server, client} {
		if err := netns.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := netns.Delete(context.Background(), ns); err != nil {
				t.Error(err)
			}
		})
	}
	cfg := labConfig()
	dir := t.TempDir()
	cfg.TFTPRoot, cfg.LogFile, cfg.LeaseFile = filepath.Join(dir, "tftp"), filepath.Join(dir, "dnsmasq.log"), filepath.Join(dir, "leases")
	os.MkdirAll(cfg.TFTPRoot, 0o755)
	os.WriteFile(filepath.Join(cfg.TFTPRoot, "undionly.kpxe"), []byte("undionly"), 0o644)
	reserved := cfg.Hosts[0]
	for _, argv := range [][]string{
		{"ip", "-n", server, "link", "add", "labbr0", "type", "bridge"},
		{"ip", "-n", server, "addr", "add", "10.77.0.1/24", "dev", "labbr0"},
		{"ip", "-n", server, "-6", "addr", "add", "fd6c:6162:a4d::1/64", "dev", "labbr0", "nodad"},
		{"ip", "-n", server, "link", "set", "labbr0", "up"},
		{"ip", "-n", server, "link", "add", "veth-s", "type", "veth", "peer", "name", "eth0", "netns", client},
		{"ip", "-n", server, "link", "set", "veth-s", "master", "labbr0", "up"},
		{"ip", "-n", client, "link", "set", "eth0", "address", reserved.MAC.String(), "up"},
	} {
		if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", argv, err, out)
		}
	}

	// The lab process runs dnsmasq from inside the namespace the same way.
	wrapper := filepath.Join(dir, "dnsmasq-in-ns")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nexec ip netns exec "+server+" dnsmasq \"$@\"\n"), 0o755)
	pids := make(chan int, 10)
	p := &Process{Config: cfg, ConfigFile: filepath.Join(dir, "dnsmasq.conf"), Binary: wrapper,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), OnStart: func(pid int) { pids <- pid }}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var first int
	select {
	case first = <-pids:
	case err := <-done:
		t.Fatalf("dnsmasq supervisor: %v", err)
	}
	waitUDP(ctx, t, first, 53, 67, 69) // DNS, DHCP, TFTP

	script := filepath.Join(dir, "udhcpc.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip siaddr=$siaddr boot_file=$boot_file\" > "+dir+"/lease\nexit 0\n"), 0o755)
	tests := []struct {
		name     string
		options  []string // udhcpc -x options: 93 client-arch, 77 user class
		bootFile string
	}{
		{"bios pxe", []string{"0x5d:0000"}, "undionly.kpxe"},
		{"uefi x86-64", []string{"0x5d:0007"}, "ipxe.efi"},
		{"ipxe", []string{"0x5d:0007", "0x4d:69505845"}, cfg.BootURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(dir, "lease"))
			argv := []string{"busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", script}
			for _, o := range tt.options {
				argv = append(argv, "-x", o)
			}
			if out, err := netns.Command(ctx, client, argv...).CombinedOutput(); err != nil {
				t.Fatalf("udhcpc: %v: %s", err, out)
			}
			got, _ := os.ReadFile(filepath.Join(dir, "lease"))
			want := fmt.Sprintf("ip=%s siaddr=10.77.0.1 boot_file=%s", reserved.IP, tt.bootFile)
			if strings.TrimSpace(string(got)) != want {
				t.Errorf("lease = %q, want %q", got, want)
			}
		})
	}

	t.Run("tftp and dns", func(t *testing.T) {
		out, err := netns.Command(ctx, client, "sh", "-c", "ip addr add 10.77.0.11/24 dev eth0 && cd "+dir+" && busybox tftp -g -r undionly.kpxe -l got.kpxe 10.77.0.1 && busybox nslookup boot.pxe-smoke.lab 10.77.0.1").CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "got.kpxe")); string(got) != "undionly" {
			t.Errorf("tftp got %q", got)
		}
		if !strings.Contains(string(out), "10.77.0.1") {
			t.Errorf("nslookup boot.pxe-smoke.lab: %s", out)
		}
	})

	t.Run("router advertisement", func(t *testing.T) {
		// The client's kernel solicits a router when its link comes up and
		// takes an address from the advertised prefix, but no default route
		// (router lifetime 0).
		if out, err := netns.Command(ctx, client, "sh", "-c", "ip link set eth0 down && ip link set eth0 up").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var addrs []byte
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			addrs, _ = netns.Command(ctx, client, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global").CombinedOutput()
			if strings.Contains(string(addrs), "fd6c:6162:a4d:0:") {
				break
			}
		}
		if !strings.Contains(string(addrs), "fd6c:6162:a4d:0:") {
			t.Fatalf("no address from the advertised prefix on the client:\n%s", addrs)
		}
		if out, _ := netns.Command(ctx, client, "ip", "-6", "route", "show", "default").CombinedOutput(); len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("the client got a default route: %s", out)
		}
	})

	t.Run("restarts after a crash", func(t *testing.T) {
		// The wrapper execs, so the recorded pid is dnsmasq itself.
		if err := exec.Command("kill", "-9", fmt.Sprint(first)).Run(); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for {
			select {
			case pid := <-pids:
				if pid != 0 && pid != first {
					return
				}
			case <-deadline:
				t.Fatal("dnsmasq was not restarted")
			}
		}
	})

	log, _ := os.ReadFile(cfg.LogFile)
	if !strings.Contains(string(log), "DHCPACK(labbr0) 10.77.0.11 52:54:00:77:00:11 bios1") {
		t.Errorf("dnsmasq log has no DHCPACK for bios1:\n%s", log)
	}
}

func TestProxyConfigAccepted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs dnsmasq")
	}
	c := labConfig()
	c.Proxy, c.RouterPrefix = true, netip.Prefix{}
	text, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "proxy.conf")
	os.WriteFile(f, []byte(text), 0o644)
	if out, err := exec.Command("dnsmasq", "--test", "--conf-file="+f).CombinedOutput(); err != nil {
		t.Fatalf("dnsmasq --test: %v: %s", err, out)
	}
}

// waitUDP waits until the network namespace of process pid (dnsmasq's, where
// nothing else runs) has UDP sockets bound to every port: dnsmasq then
// answers clients.
func waitUDP(ctx context.Context, t *testing.T, pid int, ports ...int) {
	t.Helper()
	for {
		var missing []int
		for _, port := range ports {
			if !boundUDP(pid, port) {
				missing = append(missing, port)
			}
		}
		if len(missing) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dnsmasq (pid %d) has bound no UDP socket to ports %v: %v", pid, missing, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// boundUDP reads /proc/PID/net/udp{,6}, whose second column is the local
// address as HEX_IP:HEX_PORT.
func boundUDP(pid, port int) bool {
	suffix := fmt.Sprintf(":%04X", port)
	for _, table := range []string{"udp", "udp6"} {
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1], suffix) {
				return true
			}
		}
	}
	return false
}
