package reprovision_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/power"
)

const password = "Reprovision-Pw-5"

// bootLog serves GET /machines in the boot service's format. Machines that
// boot from the network append an "ipxe" event, as the boot service logs a
// machine fetching its iPXE script.
type bootLog struct {
	mu       sync.Mutex
	machines map[string]*entry
}

type entry struct {
	MAC    string  `json:"mac"`
	UUID   string  `json:"uuid"`
	Events []event `json:"events"`
}

type event struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
}

func (l *bootLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/machines" {
		http.NotFound(w, r)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	list := []*entry{}
	for _, e := range l.machines {
		list = append(list, e)
	}
	json.NewEncoder(w).Encode(list)
}

func (l *bootLog) machine(mac, uuid string) *virtualtest.VM {
	m := virtualtest.NewVM()
	m.OnBoot = func(d power.BootDevice) {
		if d != power.BootNetwork {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		e, ok := l.machines[mac]
		if !ok {
			e = &entry{MAC: mac, UUID: uuid}
			l.machines[mac] = e
		}
		e.Events = append(e.Events, event{Time: time.Now(), Kind: "ipxe"})
	}
	return m
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &bootLog{machines: map[string]*entry{}}
	svc := httptest.NewServer(log)
	defer svc.Close()
	cred := virtual.Credentials{Username: "admin", Password: password}
	t.Setenv("RP_PW", password)
	t.Setenv("RP_BAD_PW", "not-"+password)

	type node struct {
		name, mac, uuid string
		m               *virtualtest.VM
		sys             *virtual.System
	}
	nodes := []*node{
		{name: "ipmi-node", mac: "52:54:00:00:00:01", uuid: "11111111-2222-4333-8444-555555555501"},
		{name: "redfish-node", mac: "52:54:00:00:00:02", uuid: "11111111-2222-4333-8444-555555555502"},
		{name: "bad-password", mac: "52:54:00:00:00:03", uuid: "11111111-2222-4333-8444-555555555503"},
	}
	for _, n := range nodes {
		n.m = log.machine(n.mac, n.uuid)
		n.m.SetOn(true) // running from disk before reprovisioning
		n.sys = &virtual.System{Name: n.name, UUID: n.uuid, Machine: n.m}
	}
	// IPMI for the first and third machine, Redfish (one service) for the second.
	ipmiAddr := map[string]string{}
	for _, n := range []*node{nodes[0], nodes[2]} {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go virtual.ServeIPMI(ctx, pc, n.sys, cred)
		ipmiAddr[n.name] = pc.LocalAddr().String()
	}
	cert, caPEM, err := virtual.NewCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, caPEM, 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go virtual.ServeRedfish(ctx, ln, cert, []*virtual.System{nodes[1].sys}, cred)

	endpoints := map[string]bmc.Endpoint{
		"ipmi-node":    {Protocol: bmc.IPMI, Address: ipmiAddr["ipmi-node"], Username: "admin", PasswordEnv: "RP_PW"},
		"redfish-node": {Protocol: bmc.Redfish, Address: "https://" + ln.Addr().String(), Username: "admin", PasswordEnv: "RP_PW", CAFile: ca, SystemUUID: nodes[1].uuid},
		"bad-password": {Protocol: bmc.IPMI, Address: ipmiAddr["bad-password"], Username: "admin", PasswordEnv: "RP_BAD_PW"},
	}
	var targets []reprovision.Target
	for _, n := range nodes {
		mac, _ := net.ParseMAC(n.mac)
		ep := endpoints[n.name]
		ep.Timeout = 10 * time.Second
		targets = append(targets, reprovision.Target{
			Name: n.name, MAC: mac, UUID: n.uuid,
			BMC: &bmc.Client{Server: bmc.Server{Name: n.name, Endpoints: []bmc.Endpoint{ep}}, Dialers: protocols.Dialers()},
		})
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	results := reprovision.Run(wctx, targets, &reprovision.FetchWaiter{Log: &bootlog.Client{URL: svc.URL}, Interval: 100 * time.Millisecond}, nil)

	for i, n := range nodes {
		t.Run(n.name, func(t *testing.T) {
			r := results[i]
			if n.name == "bad-password" {
				if !errors.Is(r.Err, bmc.ErrAuth) || !strings.Contains(r.Err.Error(), "bad-password") {
					t.Errorf("got %v, want an auth error naming the machine", r.Err)
				}
				if b := n.m.Boots(); len(b) != 0 {
					t.Errorf("failed machine was booted: %v", b)
				}
				if d, _ := n.m.NextBoot(); d != power.BootDisk {
					t.Errorf("failed machine's next boot changed to %s", d)
				}
				return
			}
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if b := n.m.Boots(); len(b) != 1 || b[0] != power.BootNetwork {
				t.Errorf("boots %v, want [network]", b)
			}
			if d, once := n.m.NextBoot(); d != power.BootDisk || once {
				t.Errorf("after the network boot, next boot is %s once=%v; want disk", d, once)
			}
		})
	}
}

func TestBootLogTimeout(t *testing.T) {
	svc := httptest.NewServer(&bootLog{machines: map[string]*entry{}})
	defer svc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	mac, _ := net.ParseMAC("52:54:00:00:00:09")
	err := (&reprovision.FetchWaiter{Log: &bootlog.Client{URL: svc.URL}, Interval: 50 * time.Millisecond}).WaitFetched(ctx, reprovision.Target{Name: "n9", MAC: mac}, time.Now())
	if !errors.Is(err, bmc.ErrTimeout) || !strings.Contains(err.Error(), "n9") {
		t.Fatalf("got %v", err)
	}
}
