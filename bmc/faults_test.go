package bmc_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
)

// faultyBMC serves one machine's virtual BMC over IPMI and Redfish on
// loopback and returns its system (to arm faults on) and an endpoint for
// each protocol.
func faultyBMC(t *testing.T, name string) (*virtual.System, *virtualtest.VM, map[bmc.Protocol]bmc.Endpoint) {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cred := virtual.Credentials{Username: "admin", Password: secret}
	m := virtualtest.NewVM()
	uuid := "3f2b8c1d-5e6a-4b7c-9d0e-1f2a3b4c5d6e"
	sys := &virtual.System{Name: name, UUID: uuid, Machine: m}
	// A neighbour on the same Redfish service: its trouble must not be ours.
	other := &virtual.System{Name: "other", UUID: "00000000-1111-4222-8333-444444444444", Machine: virtualtest.NewVM()}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go virtual.ServeIPMI(ctx, pc, sys, cred)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert, caPEM, err := virtualtest.NewCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	go virtual.ServeRedfish(ctx, ln, cert, []*virtual.System{other, sys}, cred)
	return sys, m, map[bmc.Protocol]bmc.Endpoint{
		bmc.IPMI:    {Protocol: bmc.IPMI, Address: pc.LocalAddr().String(), Username: "admin", PasswordFile: pwFile, Timeout: 3 * time.Second},
		bmc.Redfish: {Protocol: bmc.Redfish, Address: "https://" + ln.Addr().String(), Username: "admin", PasswordFile: pwFile, CAFile: ca, SystemUUID: uuid, Timeout: 3 * time.Second},
	}
}

// TestClientRidesOutBMCFaults arms faults on a real virtual BMC and drives
// it with the real clients: a BMC busy or silent for a few requests is
// ridden out with backoff; one that never recovers fails naming the
// machine, the endpoint and how often it was tried.
func TestClientRidesOutBMCFaults(t *testing.T) {
	fast := bmc.Retry{Attempts: 3, Backoff: 100 * time.Millisecond}
	tests := []struct {
		name  string
		proto bmc.Protocol
		fault virtual.Fault
		op    string // power-status, pxe, cycle
		// want: "" succeeds; else the error's kind and what its text holds
		want     error
		wantText []string
		minHits  int
	}{
		{"ipmi busy twice", bmc.IPMI, virtual.Fault{Kind: virtual.FaultError, Requests: 2}, "power-status", nil, nil, 2},
		{"redfish 503 twice", bmc.Redfish, virtual.Fault{Kind: virtual.FaultError, Requests: 2}, "power-status", nil, nil, 2},
		{"redfish 503 twice to a power cycle", bmc.Redfish, virtual.Fault{Kind: virtual.FaultError, Requests: 2}, "cycle", nil, nil, 2},
		{"ipmi busy twice to a power cycle", bmc.IPMI, virtual.Fault{Kind: virtual.FaultError, Requests: 2}, "cycle", nil, nil, 2},
		{"ipmi boot override refused twice", bmc.IPMI, virtual.Fault{Kind: virtual.FaultRefuseBoot, Requests: 2}, "pxe", nil, nil, 2},
		{"redfish boot override refused twice", bmc.Redfish, virtual.Fault{Kind: virtual.FaultRefuseBoot, Requests: 2}, "pxe", nil, nil, 2},
		{"redfish session dropped", bmc.Redfish, virtual.Fault{Kind: virtual.FaultDropSessions, Requests: 1}, "pxe", nil, nil, 1},
		{"ipmi session dropped", bmc.IPMI, virtual.Fault{Kind: virtual.FaultDropSessions, Requests: 1}, "pxe", nil, nil, 1},
		{"ipmi silent for a few packets", bmc.IPMI, virtual.Fault{Kind: virtual.FaultTimeout, Requests: 3}, "power-status", nil, nil, 3},
		{"redfish silent once", bmc.Redfish, virtual.Fault{Kind: virtual.FaultTimeout, Requests: 1}, "power-status", nil, nil, 1},
		{"ipmi never answers", bmc.IPMI, virtual.Fault{Kind: virtual.FaultTimeout}, "power-status", bmc.ErrTimeout,
			[]string{"flaky: power status failed on every BMC endpoint in 3 rounds", "ipmi 127.0.0.1:"}, 3},
		{"redfish never answers", bmc.Redfish, virtual.Fault{Kind: virtual.FaultTimeout}, "pxe", bmc.ErrTimeout,
			[]string{"flaky: boot device network failed on every BMC endpoint in 3 rounds", "redfish https://127.0.0.1:"}, 3},
		{"redfish busy for good", bmc.Redfish, virtual.Fault{Kind: virtual.FaultError}, "power-status", bmc.ErrBusy,
			[]string{"flaky: power status failed on every BMC endpoint in 3 rounds", "503 Service Unavailable"}, 3},
		{"ipmi refuses every boot override", bmc.IPMI, virtual.Fault{Kind: virtual.FaultRefuseBoot}, "pxe", bmc.ErrBusy,
			[]string{"flaky: boot device network failed on every BMC endpoint in 3 rounds", "Node busy"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sys, m, eps := faultyBMC(t, "flaky")
			m.SetOn(true)
			ep := eps[tt.proto]
			if tt.want != nil {
				ep.Timeout = time.Second // a dead BMC costs its time-out per round
			}
			c := &bmc.Client{Server: bmc.Server{Name: "flaky", Endpoints: []bmc.Endpoint{ep}}, Dialers: protocols.Dialers(), Retry: fast}
			if err := sys.SetFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var err error
			switch tt.op {
			case "power-status":
				var st power.State
				st, err = c.PowerState(ctx)
				if err == nil && st != power.On {
					t.Errorf("power state %s, want on", st)
				}
			case "pxe":
				err = c.SetBootDevice(ctx, power.BootNetwork, power.BootOptions{})
				if d, _ := m.NextBoot(); err == nil && d != power.BootNetwork {
					t.Errorf("next boot %s, want network", d)
				}
			case "cycle":
				err = c.SetPower(ctx, power.ActionCycle)
			}
			hits := sys.FaultStatus().Hits
			if hits < tt.minHits {
				t.Errorf("the fault spoiled %d requests, want at least %d: it did not take effect", hits, tt.minHits)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("through a BMC %s for %d requests: %v", tt.fault.Kind, tt.fault.Requests, err)
				}
				if tt.op == "cycle" {
					if b := m.Boots(); len(b) != 1 {
						t.Errorf("boots %v: want exactly one cycle", b)
					}
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			for _, w := range tt.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the password: %s", err)
			}
		})
	}
}

// TestFaultAPI arms, lists and clears a fault through the API a lab
// process serves on a Unix socket, and refuses what is not a fault.
func TestFaultAPI(t *testing.T) {
	sys := &virtual.System{Name: "node1", UUID: "3f2b8c1d-5e6a-4b7c-9d0e-1f2a3b4c5d6e", Machine: virtualtest.NewVM()}
	sock := filepath.Join(t.TempDir(), "bmc-faults.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httpServer{ln: ln, h: virtual.NewFaultHandler([]*virtual.System{sys})}
	srv.start(t)
	c := virtual.FaultClient{Socket: sock}
	ctx := context.Background()
	st, err := c.Set(ctx, "node1", virtual.Fault{Kind: virtual.FaultError, Requests: 2})
	if err != nil || !st.Armed || st.Fault.Kind != virtual.FaultError || st.Fault.Requests != 2 {
		t.Fatalf("Set = %+v, %v", st, err)
	}
	if got := sys.FaultStatus(); !got.Armed || got.Fault.Kind != virtual.FaultError {
		t.Errorf("system's fault %+v, want armed error", got)
	}
	all, err := c.List(ctx)
	if err != nil || len(all) != 1 || all[0].Machine != "node1" || !all[0].Armed {
		t.Errorf("List = %+v, %v", all, err)
	}
	if st, err := c.Clear(ctx, "node1"); err != nil || st.Armed {
		t.Errorf("Clear = %+v, %v", st, err)
	}
	if sys.FaultStatus().Armed {
		t.Error("still armed after Clear")
	}
	for _, tt := range []struct {
		machine string
		f       virtual.Fault
		want    string
	}{
		{"node9", virtual.Fault{Kind: virtual.FaultError}, `no virtual BMC of a machine named "node9" (machines: node1)`},
		{"node1", virtual.Fault{Kind: "melt"}, `BMC fault kind "melt": want one of error, timeout, drop-sessions, refuse-boot`},
		{"node1", virtual.Fault{Kind: virtual.FaultError, Requests: -1}, "requests -1 is negative"},
	} {
		if _, err := c.Set(ctx, tt.machine, tt.f); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Set(%s, %+v) = %v, want %q", tt.machine, tt.f, err, tt.want)
		}
	}
	if sys.FaultStatus().Armed {
		t.Error("a refused fault was armed")
	}
}
