package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
)

// rackSim is a rack's segment in namespaces of the test's own: "site" holds
// the switch (a bridge), the site DHCP server's address and the machines'
// ports; "serve" holds labctl's interface rack0 (10.88.0.1/24), a veth
// into that switch, as an operator's server would have.
type rackSim struct {
	site, serve string
	dir         string // data, run directory, logs
	bin         string
}

const rackIface = "rack0"

func newRackSim(t *testing.T, ctx context.Context) *rackSim {
	t.Helper()
	if testing.Short() {
		t.Skip("needs root and network namespaces; runs labctl serve, dnsmasq and DHCP servers")
	}
	for tool, pkg := range map[string]string{"dnsmasq": "dnsmasq-base", "busybox": "busybox-static", "ip": "iproute2"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: install Debian's %s (scripts/install-deps.sh)", tool, pkg)
		}
	}
	root, err := e2eRoot()
	if err != nil {
		t.Fatal(err)
	}
	id := rand.Uint32()
	r := &rackSim{site: fmt.Sprintf("lt-rack-site-%08x", id), serve: fmt.Sprintf("lt-rack-serve-%08x", id), dir: t.TempDir(), bin: filepath.Join(root, "labctl")}
	for _, ns := range []string{r.site, r.serve} {
		if err := netns.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := netns.Delete(context.Background(), ns); err != nil {
				t.Error(err)
			}
		})
	}
	r.ip(t, ctx,
		"-n "+r.site+" link set lo up",
		"-n "+r.serve+" link set lo up",
		"-n "+r.site+" link add br0 type bridge",
		"-n "+r.site+" addr add 10.88.0.2/24 dev br0",
		"-n "+r.site+" link set br0 up",
		"-n "+r.site+" link add port-serve type veth peer name "+rackIface+" netns "+r.serve,
		"-n "+r.site+" link set port-serve master br0 up",
		"-n "+r.serve+" addr add 10.88.0.1/24 dev "+rackIface,
		"-n "+r.serve+" link set "+rackIface+" up",
	)
	writeTree(t, filepath.Join(r.dir, "data"), map[string]string{
		"profiles/node.json": `{"id":"node","boot":{"kernel":"/assets/vmlinuz","args":["console=ttyS0"]}}`,
		"groups/node.json":   `{"id":"node","profile":"node"}`,
	})
	return r
}

// ip runs `ip ARGS` for each line.
func (r *rackSim) ip(t *testing.T, ctx context.Context, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if out, err := exec.CommandContext(ctx, "ip", strings.Fields(l)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", l, err, out)
		}
	}
}

// links is what labctl must not change in its namespace: links, addresses, routes.
func (r *rackSim) links(t *testing.T, ctx context.Context) string {
	t.Helper()
	var b strings.Builder
	for _, argv := range [][]string{{"-o", "addr"}, {"route"}, {"-o", "link"}} {
		out, err := netns.Command(ctx, r.serve, append([]string{"ip"}, argv...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v: %s", argv, err, out)
		}
		b.Write(out)
	}
	// Duplicate address detection finishing is the kernel's doing.
	return strings.ReplaceAll(b.String(), " tentative", "")
}

func (r *rackSim) runDir() string { return filepath.Join(r.dir, "run") }

// serveCmd is `labctl serve` inside the serve namespace, refusing or not.
func (r *rackSim) serveCmd(ctx context.Context, args ...string) *exec.Cmd {
	argv := append([]string{r.bin, "serve", "--data", filepath.Join(r.dir, "data"), "--run-dir", r.runDir()}, args...)
	return netns.Command(ctx, r.serve, argv...)
}

// startServe runs labctl serve until the test ends (SIGTERM, then it must
// exit 0 leaving no dnsmasq), and waits until it serves.
func (r *rackSim) startServe(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, *testenv.Buffer) {
	t.Helper()
	cmd := r.serveCmd(ctx, args...)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "boot service listening", nil)
	return cmd, out
}

// stopServe sends SIGTERM and checks that serve stops cleanly, taking its dnsmasq with it.
func (r *rackSim) stopServe(t *testing.T, cmd *exec.Cmd, out *testenv.Buffer) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("labctl serve after SIGTERM: %v\n%s", err, out)
	}
	conf := filepath.Join(r.runDir(), "dnsmasq.conf")
	if pids := processesMentioning(conf); len(pids) > 0 {
		t.Errorf("dnsmasq left after SIGTERM: %v", pids)
	}
}

// processesMentioning lists live processes whose command line holds s.
func processesMentioning(s string) []string {
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, _ := os.ReadFile(p)
		if bytes.Contains(raw, []byte(s)) {
			stat, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
			if !strings.Contains(string(stat), ") Z") {
				found = append(found, p+": "+string(bytes.ReplaceAll(raw, []byte{0}, []byte{' '})))
			}
		}
	}
	return found
}

// waitOutput waits until out holds want, failing at once if exited closes.
func waitOutput(t *testing.T, out fmt.Stringer, want string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case <-exited:
			t.Fatalf("exited before %q:\n%s", want, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 30 s:\n%s", want, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, body := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Each bad interface or range is refused before anything starts, naming it.
func TestServeRackRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newRackSim(t, ctx)
	r.ip(t, ctx,
		"-n "+r.serve+" link add down0 type veth peer name down0p",
		"-n "+r.serve+" addr add 10.89.0.1/24 dev down0",
		"-n "+r.serve+" link add noip0 type veth peer name noip0p",
		"-n "+r.serve+" link set noip0p up",
		"-n "+r.serve+" link set noip0 up",
	)
	inv := filepath.Join(r.dir, "clash.yaml")
	os.WriteFile(inv, []byte(inventoryYAML("52:54:00:88:00:20", "10.88.0.1")), 0o644)
	before := r.links(t, ctx)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no such interface", []string{"--interface", "nope0", "--dhcp", "proxy"}, "--interface: interface nope0 does not exist"},
		{"interface down", []string{"--interface", "down0", "--dhcp", "proxy"}, "--interface: interface down0 is down"},
		{"no IPv4 address", []string{"--interface", "noip0", "--dhcp", "proxy"}, "--interface: interface noip0 has no IPv4 address"},
		{"range holds the interface's address", []string{"--interface", rackIface, "--dhcp", "full", "--dhcp-range", "10.88.0.1-10.88.0.20"},
			"--dhcp full: range 10.88.0.1-10.88.0.20 holds 10.88.0.1, the address of interface rack0"},
		{"range outside the subnet", []string{"--interface", rackIface, "--dhcp", "full", "--dhcp-range", "10.99.0.10-10.99.0.20"},
			"--dhcp full: range 10.99.0.10-10.99.0.20 is outside 10.88.0.0/24, the subnet of interface rack0"},
		{"reservation of the interface's address", []string{"--interface", rackIface, "--dhcp", "full", "--inventory", inv},
			inv + ": machines[0] (node1).address: 10.88.0.1 is the address of interface rack0"},
		{"address elsewhere than the interface", []string{"--interface", rackIface, "--dhcp", "proxy", "--address", "127.0.0.1:8080"},
			"--address 127.0.0.1:8080: not on --interface rack0 (10.88.0.1), where the machines are sent"},
		{"proxy without an interface", []string{"--dhcp", "proxy"}, "--dhcp proxy needs --interface"},
		{"full with nothing to hand out", []string{"--interface", rackIface, "--dhcp", "full"}, "--dhcp full needs --inventory (reservations) or --dhcp-range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := r.serveCmd(ctx, tt.args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.want) {
				t.Fatalf("labctl serve %v: %v\n%s\nwant a refusal naming %q", tt.args, err, out, tt.want)
			}
			if strings.Contains(string(out), "listening") {
				t.Errorf("it started serving before it refused:\n%s", out)
			}
			if _, err := os.Stat(r.runDir()); !os.IsNotExist(err) {
				t.Errorf("the run directory was made: %v", err)
			}
		})
	}
	if after := r.links(t, ctx); after != before {
		t.Errorf("links, addresses or routes changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

func inventoryYAML(mac, address string) string {
	return fmt.Sprintf(`machines:
  - name: node1
    mac: %q
    address: %s
    bmc:
      - protocol: redfish
        address: https://10.88.0.60
        username: admin
        password_env: RACK_BMC_PASSWORD
`, mac, address)
}

// In full mode labctl's dnsmasq hands a machine the address the inventory
// reserves for its MAC; SIGHUP reads the inventory again; SIGTERM stops
// dnsmasq too, and the interface is as it was.
func TestServeRackFull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newRackSim(t, ctx)
	const mac, reserved = "52:54:00:88:00:21", "10.88.0.50"
	inv := filepath.Join(r.dir, "rack.yaml")
	os.WriteFile(inv, []byte(inventoryYAML(mac, reserved)), 0o644)
	before := r.links(t, ctx)
	cmd, out := r.startServe(t, ctx, "--interface", rackIface, "--dhcp", "full", "--inventory", inv, "--domain", "rack.test")
	defer r.stopServe(t, cmd, out)
	waitOutput(t, out, "dnsmasq running", nil)

	// A machine on the switch with the reserved MAC asks as iPXE would.
	r.ip(t, ctx,
		"-n "+r.site+" link add m1 type veth peer name port-m1",
		"-n "+r.site+" link set port-m1 master br0 up",
		"-n "+r.site+" link set m1 address "+mac+" up",
	)
	script := filepath.Join(r.dir, "udhcpc.sh")
	lease := filepath.Join(r.dir, "lease")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip siaddr=$siaddr boot_file=$boot_file\" > "+lease+"\nexit 0\n"), 0o755)
	if o, err := netns.Command(ctx, r.site, "busybox", "udhcpc", "-i", "m1", "-n", "-q", "-f", "-t", "10", "-T", "1", "-s", script, "-x", "0x5d:0000", "-x", "0x4d:69505845").CombinedOutput(); err != nil {
		t.Fatalf("udhcpc: %v: %s\n%s", err, o, out)
	}
	got, _ := os.ReadFile(lease)
	want := "ip=" + reserved + " siaddr=10.88.0.1 boot_file=http://10.88.0.1:8080/boot.ipxe"
	if strings.TrimSpace(string(got)) != want {
		t.Errorf("lease = %q, want %q", got, want)
	}

	// SIGHUP: a bad inventory keeps dnsmasq as it is; a good one with a
	// second machine restarts it with both reservations.
	os.WriteFile(inv, []byte("machines: [\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitOutput(t, out, "reload on SIGHUP failed; dnsmasq keeps its configuration", nil)
	waitOutput(t, out, "reloaded data directory on SIGHUP", nil)
	const mac2, reserved2 = "52:54:00:88:00:23", "10.88.0.51"
	second := strings.Replace(inventoryYAML(mac2, reserved2), "node1", "node2", 1)
	os.WriteFile(inv, []byte(inventoryYAML(mac, reserved)+strings.TrimPrefix(second, "machines:\n")), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitOutput(t, out, "restarting dnsmasq with the reloaded configuration", nil)
	r.ip(t, ctx,
		"-n "+r.site+" link add m2 type veth peer name port-m2",
		"-n "+r.site+" link set port-m2 master br0 up",
		"-n "+r.site+" link set m2 address "+mac2+" up",
	)
	if o, err := netns.Command(ctx, r.site, "busybox", "udhcpc", "-i", "m2", "-n", "-q", "-f", "-t", "10", "-T", "1", "-s", script, "-x", "0x4d:69505845").CombinedOutput(); err != nil {
		t.Fatalf("udhcpc after SIGHUP: %v: %s\n%s", err, o, out)
	}
	got, _ = os.ReadFile(lease)
	if want := "ip=" + reserved2 + " "; !strings.HasPrefix(string(got), want) {
		t.Errorf("lease after SIGHUP = %q, want %s", got, reserved2)
	}
	if after := r.links(t, ctx); after != before {
		t.Errorf("links, addresses or routes changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// In proxy mode the site's own DHCP server (Kea) hands out the address and
// labctl's dnsmasq only answers PXE: a QEMU machine whose iPXE ROM boots
// from the network gets its address from Kea and chains to serve's
// /boot.ipxe, as the boot service's machine log shows.
func TestServeRackProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := newRackSim(t, ctx)
	for tool, pkg := range map[string]string{"kea-dhcp4": "kea-dhcp4-server", "qemu-system-x86_64": "qemu-system-x86"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: install Debian's %s (scripts/install-deps.sh)", tool, pkg)
		}
	}
	keaLeases := r.startKea(t, ctx, "")
	before := r.links(t, ctx)
	cmd, out := r.startServe(t, ctx, "--interface", rackIface, "--dhcp", "proxy")
	defer r.stopServe(t, cmd, out)
	waitOutput(t, out, "dnsmasq running", nil)

	const mac = "52:54:00:88:00:10"
	serial := filepath.Join(r.dir, "serial.log")
	r.ip(t, ctx,
		"-n "+r.site+" tuntap add dev tap0 mode tap",
		"-n "+r.site+" link set tap0 master br0 up",
	)
	vm := netns.Command(ctx, r.site, "qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nodefaults", "-no-user-config",
		"-display", "none", "-machine", "pc,graphics=off", "-boot", "n",
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac="+mac,
		"-serial", "file:"+serial, "-no-reboot")
	if err := vm.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { vm.Process.Kill(); vm.Wait() }()

	client := &bootlog.Client{URL: "http://10.88.0.1:8080", HTTP: netns.HTTPClient(r.serve, 5*time.Second)}
	hw, _ := net.ParseMAC(mac)
	var rec *bootlog.Record
	for deadline := time.Now().Add(4 * time.Minute); rec == nil; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			serialOut, _ := os.ReadFile(serial)
			dnsLog, _ := os.ReadFile(filepath.Join(r.runDir(), "dnsmasq.log"))
			t.Fatalf("the machine never fetched /ipxe\nserial:\n%s\ndnsmasq:\n%s\nserve:\n%s", serialOut, dnsLog, out)
		}
		rs, err := client.RecordsOf(ctx, hw, "")
		if err != nil {
			t.Fatal(err)
		}
		if r := bootlog.Find(rs, hw, ""); r != nil && hasEvent(r, bootlog.KindIPXE) {
			rec = r
		}
	}
	leases, _ := os.ReadFile(keaLeases)
	if !strings.Contains(string(leases), rec.IP+","+mac) {
		t.Errorf("the machine fetched /ipxe from %s, which Kea's leases do not give to %s:\n%s", rec.IP, mac, leases)
	}
	if !strings.HasPrefix(rec.IP, "10.88.0.1") || rec.IP == "10.88.0.1" {
		t.Errorf("the machine's address %s is not from Kea's pool 10.88.0.100-150", rec.IP)
	}
	if l, err := os.ReadFile(filepath.Join(r.runDir(), "dnsmasq.leases")); err == nil && len(l) > 0 {
		t.Errorf("labctl's dnsmasq handed out addresses in proxy mode:\n%s", l)
	}
	if after := r.links(t, ctx); after != before {
		t.Errorf("links, addresses or routes changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	t.Logf("machine %s: address %s from Kea, events %v", mac, rec.IP, eventKinds(rec))
}

// keaClasses are docs/racks.md's classes for --dhcp none, as written there.
const keaClasses = `[
  {"name": "ipxe", "test": "substring(option[77].hex,0,4) == 'iPXE'",
   "boot-file-name": "http://10.88.0.1:8080/boot.ipxe"},
  {"name": "efi64", "test": "not member('ipxe') and (option[93].hex == 0x0007 or option[93].hex == 0x0009)",
   "next-server": "10.88.0.1", "boot-file-name": "ipxe.efi"},
  {"name": "bios", "test": "not member('ipxe') and option[93].hex == 0x0000",
   "next-server": "10.88.0.1", "boot-file-name": "undionly.kpxe"}
]`

// With --dhcp none the site's DHCP (Kea, with docs/racks.md's classes)
// sends iPXE to serve's /boot.ipxe, and serve runs no dnsmasq.
func TestServeRackNone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newRackSim(t, ctx)
	if _, err := exec.LookPath("kea-dhcp4"); err != nil {
		t.Fatalf("kea-dhcp4 is missing: install Debian's kea-dhcp4-server (scripts/install-deps.sh)")
	}
	r.startKea(t, ctx, keaClasses)
	cmd, out := r.startServe(t, ctx, "--interface", rackIface, "--dhcp", "none")
	defer r.stopServe(t, cmd, out)
	r.ip(t, ctx,
		"-n "+r.site+" link add m1 type veth peer name port-m1",
		"-n "+r.site+" link set port-m1 master br0 up",
		"-n "+r.site+" link set m1 address 52:54:00:88:00:22 up",
	)
	script := filepath.Join(r.dir, "udhcpc.sh")
	lease := filepath.Join(r.dir, "lease")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip boot_file=$boot_file\" > "+lease+" && ip addr add $ip/24 dev m1\nexit 0\n"), 0o755)
	for _, tt := range []struct{ name, opts, want string }{
		{"bios pxe", "0x5d:0000", "boot_file=undionly.kpxe"},
		{"uefi", "0x5d:0007", "boot_file=ipxe.efi"},
		{"ipxe", "0x4d:69505845", "boot_file=http://10.88.0.1:8080/boot.ipxe"},
	} {
		os.Remove(lease)
		netns.Command(ctx, r.site, "ip", "addr", "flush", "dev", "m1").Run()
		if o, err := netns.Command(ctx, r.site, "busybox", "udhcpc", "-i", "m1", "-n", "-q", "-f", "-t", "10", "-T", "1", "-s", script, "-x", tt.opts).CombinedOutput(); err != nil {
			t.Fatalf("%s: udhcpc: %v: %s", tt.name, err, o)
		}
		if got, _ := os.ReadFile(lease); !strings.Contains(string(got), tt.want) || !strings.Contains(string(got), "ip=10.88.0.1") {
			t.Errorf("%s: lease %q, want an address from Kea's pool and %s", tt.name, got, tt.want)
		}
	}
	// The machine reaches the boot script Kea pointed it at.
	o, err := netns.Command(ctx, r.site, "busybox", "wget", "-q", "-O", "-", "http://10.88.0.1:8080/boot.ipxe").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(o), "#!ipxe") {
		t.Errorf("GET /boot.ipxe from the machine: %v: %s", err, o)
	}
	if pids := processesMentioning(filepath.Join(r.runDir(), "dnsmasq.conf")); len(pids) > 0 {
		t.Errorf("--dhcp none started dnsmasq: %v", pids)
	}
}

func hasEvent(r *bootlog.Record, kind string) bool {
	for _, e := range r.Events {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

func eventKinds(r *bootlog.Record) []string {
	var ks []string
	for _, e := range r.Events {
		ks = append(ks, e.Kind)
	}
	return ks
}

// startKea runs the site's DHCP server on the switch: a pool of
// 10.88.0.100-150, the router 10.88.0.2, and the client classes given
// (a JSON list; "": none, nothing about booting; Kea refuses an empty
// list). It returns its lease file.
func (r *rackSim) startKea(t *testing.T, ctx context.Context, classes string) string {
	t.Helper()
	if classes != "" {
		classes = `"client-classes": ` + classes + ","
	}
	dir := filepath.Join(r.dir, "kea")
	os.MkdirAll(dir, 0o755)
	leases, logFile := filepath.Join(dir, "leases4.csv"), filepath.Join(dir, "kea.log")
	conf := fmt.Sprintf(`{"Dhcp4": {
  "interfaces-config": {"interfaces": ["br0"], "dhcp-socket-type": "raw"},
  "lease-database": {"type": "memfile", "persist": true, "name": %q, "lfc-interval": 0},
  "valid-lifetime": 600, %s
  "subnet4": [{"id": 1, "subnet": "10.88.0.0/24", "pools": [{"pool": "10.88.0.100 - 10.88.0.150"}],
    "option-data": [{"name": "routers", "data": "10.88.0.2"}]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": %q}], "severity": "INFO"}]
}}`, leases, classes, logFile)
	confFile := filepath.Join(dir, "kea-dhcp4.conf")
	os.WriteFile(confFile, []byte(conf), 0o644)
	kea := netns.Command(ctx, r.site, "kea-dhcp4", "-c", confFile)
	kea.Env = append(os.Environ(), "KEA_PIDFILE_DIR="+dir, "KEA_LOCKFILE_DIR="+dir)
	var out testenv.Buffer
	kea.Stdout, kea.Stderr = &out, &out
	if err := kea.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { kea.Wait(); close(exited) }()
	t.Cleanup(func() {
		kea.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			kea.Process.Kill()
			<-exited
		}
	})
	waitOutput(t, fileText(logFile), "DHCP4_STARTED", exited)
	return leases
}

// fileText reads a file each time it is printed.
type fileText string

func (f fileText) String() string { b, _ := os.ReadFile(string(f)); return string(b) }
