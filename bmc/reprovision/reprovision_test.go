package reprovision_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/internal/power"
)

const password = "Reprovision-Pw-5"

// bootData is a boot service's data directory: each machine by MAC, the
// one of node 4 with an Ignition template that cannot render.
var bootData = map[string]string{
	"profiles/good.json":   `{"id": "good", "boot": {"kernel": "/assets/vmlinuz"}, "ignition_id": "good.ign"}`,
	"profiles/broken.json": `{"id": "broken", "boot": {"kernel": "/assets/vmlinuz"}, "ignition_id": "broken.bu"}`,
	"ignition/good.ign":    `{"ignition": {"version": "3.3.0"}}`,
	"ignition/broken.bu":   "variant: fcos\nversion: 1.4.0\npasswd:\n  users:\n    - name: {{.no_such_key}}\n",
	"groups/n1.json":       `{"id": "n1", "profile": "good", "selector": {"mac": "52:54:00:00:00:01"}}`,
	"groups/n2.json":       `{"id": "n2", "profile": "good", "selector": {"mac": "52:54:00:00:00:02"}}`,
	"groups/n3.json":       `{"id": "n3", "profile": "good", "selector": {"mac": "52:54:00:00:00:03"}}`,
	"groups/n4.json":       `{"id": "n4", "profile": "broken", "selector": {"mac": "52:54:00:00:00:04"}}`,
	"groups/n5.json":       `{"id": "n5", "profile": "good", "selector": {"mac": "52:54:00:00:00:05"}}`,
	"groups/n6.json":       `{"id": "n6", "profile": "good", "selector": {"mac": "52:54:00:00:00:06"}}`,
	"groups/n7.json":       `{"id": "n7", "profile": "good", "selector": {"mac": "52:54:00:00:00:07"}}`,
	"groups/n8.json":       `{"id": "n8", "profile": "good", "selector": {"mac": "52:54:00:00:00:08"}}`,
	"groups/n9.json":       `{"id": "n9", "profile": "good", "selector": {"mac": "52:54:00:00:00:09"}}`,
	"groups/n10.json":      `{"id": "n10", "profile": "good", "selector": {"mac": "52:54:00:00:00:0a"}}`,
	"groups/n11.json":      `{"id": "n11", "profile": "good", "selector": {"mac": "52:54:00:00:00:0b"}}`,
	"groups/n12.json":      `{"id": "n12", "profile": "good", "selector": {"mac": "52:54:00:00:00:0c"}}`,
}

// bootService runs the real boot service on loopback.
func bootService(t *testing.T) string {
	dir := t.TempDir()
	for rel, content := range bootData {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := bootsvc.New(bootsvc.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	svc := httptest.NewServer(srv.Handler())
	t.Cleanup(svc.Close)
	return svc.URL
}

// netboot does what a machine's iPXE and then its Ignition do after a
// network boot: fetch the iPXE script, then the Ignition config.
func netboot(t *testing.T, base, mac, uuid string) {
	for _, path := range []string{"/ipxe", "/ignition"} {
		resp, err := http.Get(base + path + "?mac=" + mac + "&uuid=" + uuid)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return // a real machine stops here too
		}
	}
}

// TestRun reprovisions machines through virtual BMCs (IPMI and Redfish)
// against the real boot service; a machine counts only on what the boot
// service logged after the power cycle.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := bootService(t)
	cred := virtual.Credentials{Username: "admin", Password: password}
	t.Setenv("RP_PW", password)
	t.Setenv("RP_BAD_PW", "not-"+password)

	type node struct {
		name, mac, uuid string
		redfish         bool
		profile         string // the virtual BMC's quirk profile
		passwordEnv     string
		fault           *virtual.Fault // armed on its virtual BMC before reprovisioning
		everyBoot       bool
		setup           func(t *testing.T, n *node) // before reprovisioning
		check           func(t *testing.T, n *node, err error)
		m               *virtualtest.VM
		sys             *virtual.System
	}
	bootedOnce := func(t *testing.T, n *node, err error) {
		if err != nil {
			t.Fatal(err)
		}
		if b := n.m.Boots(); len(b) != 1 || b[0] != power.BootNetwork {
			t.Errorf("boots %v, want [network]", b)
		}
		if d, once := n.m.NextBoot(); d != power.BootDisk || once {
			t.Errorf("after the network boot, next boot is %s once=%v; want disk", d, once)
		}
	}
	flakyTwice := func(t *testing.T, n *node, err error) {
		bootedOnce(t, n, err)
		if st := n.sys.FaultStatus(); st.Hits != 2 {
			t.Errorf("its BMC's fault spoiled %d requests, want 2: it did not take effect", st.Hits)
		}
	}
	nodes := []*node{
		// A BMC busy for two requests (Redfish 503, IPMI Node Busy) is
		// ridden out with backoff.
		{name: "flaky-ipmi", mac: "52:54:00:00:00:09", fault: &virtual.Fault{Kind: virtual.FaultError, Requests: 2}, check: flakyTwice},
		{name: "flaky-redfish", mac: "52:54:00:00:00:0a", redfish: true, fault: &virtual.Fault{Kind: virtual.FaultError, Requests: 2}, check: flakyTwice},
		// One that never answers fails naming the machine, after its rounds.
		{name: "silent-bmc", mac: "52:54:00:00:00:0b", fault: &virtual.Fault{Kind: virtual.FaultTimeout}, check: func(t *testing.T, n *node, err error) {
			if !errors.Is(err, bmc.ErrTimeout) || !strings.Contains(err.Error(), "silent-bmc: set boot device pxe once: silent-bmc: boot device network failed on every BMC endpoint in 3 rounds") {
				t.Errorf("got %v, want a time-out naming the machine and its rounds", err)
			}
			if b := n.m.Boots(); len(b) != 0 {
				t.Errorf("machine behind a silent BMC was booted: %v", b)
			}
		}},
		{name: "ipmi-node", mac: "52:54:00:00:00:01", check: bootedOnce},
		{name: "redfish-node", mac: "52:54:00:00:00:02", redfish: true, check: bootedOnce},
		// sushy-tools has no one-time boot: the client sets PXE persistently,
		// and the disk must be first again once the config was fetched, or
		// the machine would boot its installer forever.
		{name: "no-once-bmc", mac: "52:54:00:00:00:06", redfish: true, profile: "sushy-tools", check: bootedOnce},
		// A BMC that offers no one-time boot at all (AllowableValues lacks Once).
		{name: "once-unoffered", mac: "52:54:00:00:00:08", redfish: true, profile: "no-once", check: bootedOnce},
		// virtualbmc applies a one-time device persistently and says
		// one-time: the network it still reports after the boot must go.
		{name: "virtualbmc", mac: "52:54:00:00:00:07", profile: "virtualbmc", check: bootedOnce},
		// A rack's server that lives in RAM boots the network every time,
		// the virtualbmc profile's network kept or not: nothing restores the disk.
		{name: "every-boot", mac: "52:54:00:00:00:0c", profile: "virtualbmc", everyBoot: true, check: func(t *testing.T, n *node, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if b := n.m.Boots(); len(b) != 1 || b[0] != power.BootNetwork {
				t.Errorf("boots %v, want [network]", b)
			}
			if d, once := n.m.NextBoot(); d != power.BootNetwork || once {
				t.Errorf("after the network boot, next boot is %s once=%v; want network, persistently", d, once)
			}
		}},
		{name: "bad-password", mac: "52:54:00:00:00:03", passwordEnv: "RP_BAD_PW", check: func(t *testing.T, n *node, err error) {
			if !errors.Is(err, bmc.ErrAuth) || !strings.Contains(err.Error(), "bad-password") {
				t.Errorf("got %v, want an auth error naming the machine", err)
			}
			if b := n.m.Boots(); len(b) != 0 {
				t.Errorf("failed machine was booted: %v", b)
			}
			if d, _ := n.m.NextBoot(); d != power.BootDisk {
				t.Errorf("failed machine's next boot changed to %s", d)
			}
		}},
		{name: "broken-template", mac: "52:54:00:00:00:04", check: func(t *testing.T, n *node, err error) {
			// Its iPXE script was served (200); its Ignition config was not.
			if !errors.Is(err, reprovision.ErrConfigRefused) || !strings.Contains(err.Error(), "broken-template") ||
				!strings.Contains(err.Error(), "GET /ignition answered 500 Internal Server Error") || !strings.Contains(err.Error(), "no_such_key") {
				t.Errorf("got %v, want the boot service's 500 for /ignition naming the template's missing key", err)
			}
		}},
		{name: "lying-bmc", mac: "52:54:00:00:00:05",
			setup: func(t *testing.T, n *node) {
				// It fetched its config before; its BMC then ignores the power cycle.
				netboot(t, base, n.mac, n.uuid)
				n.m.IgnorePower(true)
			},
			check: func(t *testing.T, n *node, err error) {
				if !errors.Is(err, bmc.ErrTimeout) || !strings.Contains(err.Error(), "no config fetch by lying-bmc logged after event") {
					t.Errorf("got %v, want a time-out: the fetch before the power cycle does not count", err)
				}
			}},
	}
	redfishSystems := map[string][]*virtual.System{} // by quirk profile: one service each
	var targets []reprovision.Target
	for i, n := range nodes {
		n.uuid = fmt.Sprintf("11111111-2222-4333-8444-5555555555%02d", i+1)
		n.m = virtualtest.NewVM()
		n.m.SetOn(true) // running from disk before reprovisioning
		n.m.OnBoot = func(d power.BootDevice) {
			if d == power.BootNetwork {
				go netboot(t, base, n.mac, n.uuid)
			}
		}
		if n.setup != nil {
			n.setup(t, n)
		}
		q, err := virtual.Profile(n.profile)
		if err != nil {
			t.Fatal(err)
		}
		sys := &virtual.System{Name: n.name, UUID: n.uuid, Machine: n.m, Quirks: q}
		n.sys = sys
		if n.fault != nil {
			if err := sys.SetFault(*n.fault); err != nil {
				t.Fatal(err)
			}
		}
		ep := bmc.Endpoint{Protocol: bmc.IPMI, Username: "admin", PasswordEnv: cmp.Or(n.passwordEnv, "RP_PW"), Timeout: 10 * time.Second}
		if n.fault != nil && n.fault.Requests == 0 {
			ep.Timeout = time.Second // a BMC that never answers costs this per round
		}
		if n.redfish {
			redfishSystems[n.profile] = append(redfishSystems[n.profile], sys)
			ep.Protocol, ep.SystemUUID = bmc.Redfish, n.uuid
		} else {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go virtual.ServeIPMI(ctx, pc, sys, cred)
			ep.Address = pc.LocalAddr().String()
		}
		mac, _ := net.ParseMAC(n.mac)
		targets = append(targets, reprovision.Target{Name: n.name, MAC: mac, UUID: n.uuid, EveryBoot: n.everyBoot,
			BMC: &bmc.Client{Server: bmc.Server{Name: n.name, Endpoints: []bmc.Endpoint{ep}}, Dialers: protocols.Dialers(),
				Retry: bmc.Retry{Attempts: 3, Backoff: 200 * time.Millisecond}}})
	}
	cert, caPEM, err := virtualtest.NewCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, caPEM, 0o644)
	urls := map[string]string{}
	for profile, systems := range redfishSystems {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go virtual.ServeRedfish(ctx, ln, cert, systems, cred)
		urls[profile] = "https://" + ln.Addr().String()
	}
	for i, n := range nodes {
		if n.redfish {
			ep := &targets[i].BMC.(*bmc.Client).Server.Endpoints[0]
			ep.Address, ep.CAFile = urls[n.profile], ca
		}
	}

	wctx, wcancel := context.WithTimeout(ctx, 8*time.Second)
	defer wcancel()
	results := reprovision.Run(wctx, targets, &reprovision.FetchWaiter{Log: &bootlog.Client{URL: base}, Interval: 100 * time.Millisecond}, reprovision.Options{})
	for i, n := range nodes {
		t.Run(n.name, func(t *testing.T) {
			t.Log(results[i].Err)
			n.check(t, n, results[i].Err)
		})
	}
}

func TestBootLogRefusals(t *testing.T) {
	tests := []struct {
		name string
		url  func(t *testing.T, base string) string
		want string
	}{
		{"not labctl's boot service", func(t *testing.T, _ string) string {
			other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			t.Cleanup(other.Close)
			return other.URL
		}, "header Machine-Log-Seq is \"\", not a sequence number"},
		{"no such endpoint", func(_ *testing.T, base string) string { return base + "/nowhere" }, "HEAD " + "%s/nowhere/machines: 404 Not Found"},
	}
	base := bootService(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.url(t, base)
			_, err := (&bootlog.Client{URL: u}).Mark(context.Background())
			if want := strings.ReplaceAll(tt.want, "%s", base); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Mark: %v, want an error containing %q", err, want)
			}
		})
	}
}
