package check

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/bootsvc/bootsvctest"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// The fetched check tells the boot paths apart: a machine whose firmware
// fetched ipxe.efi from the boot service over HTTP passes "over http"; the
// same check fails at once, naming TFTP and dnsmasq's line, for a machine
// that took TFTP instead (the mutation), and keeps waiting for one that
// fetched nothing yet. The TFTP lines are as dnsmasq 2.90 writes them.
func TestFetchedTellsHTTPFromTFTP(t *testing.T) {
	svc, srv := bootsvctest.Serve(t)
	machine := func(name, mac, ip string) lab.Machine {
		hw, _ := net.ParseMAC(mac)
		return lab.Machine{Name: name, MAC: hw, IP: netip.MustParseAddr(ip)}
	}
	byHTTP := machine("uefi-http", "52:54:00:77:30:20", "10.77.30.20")
	byTFTP := machine("uefi-tftp", "52:54:00:77:30:21", "10.77.30.21")
	nothing := machine("uefi-late", "52:54:00:77:30:22", "10.77.30.22")
	byHTTPS := machine("uefi-https", "52:54:00:77:30:23", "10.77.30.23")
	l := &lab.Lab{Dir: t.TempDir(), Machines: []lab.Machine{byHTTP, byTFTP, nothing, byHTTPS}}

	// uefi-http's firmware fetches the URL dnsmasq offered it.
	resp, err := http.Get(srv.URL + "/efi/52-54-00-77-30-20/ipxe.efi")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// uefi-https's over TLS, from the same boot service.
	tlsSrv := httptest.NewTLSServer(svc.Handler())
	defer tlsSrv.Close()
	resp, err = tlsSrv.Client().Get(tlsSrv.URL + "/efi/52-54-00-77-30-23/ipxe.efi")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// uefi-tftp took PXE: dnsmasq sent it the same file over TFTP.
	log := "Dec  6 17:56:06 dnsmasq-tftp[20523]: TFTP root is " + l.Dir + "/tftp  \n" +
		"Dec  6 17:56:14 dnsmasq-tftp[20523]: sent " + l.Dir + "/tftp/ipxe.efi to 10.77.30.21\n"
	if err := os.WriteFile(l.DnsmasqLog(), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}

	overHTTP := scenario.Check{Name: "efi-over-http", Fetched: &scenario.FetchedExpect{File: "ipxe.efi", Protocol: scenario.ProtocolHTTP}}
	overHTTPS := scenario.Check{Name: "efi-over-https", Fetched: &scenario.FetchedExpect{File: "ipxe.efi", Protocol: scenario.ProtocolHTTPS}}
	overTFTP := scenario.Check{Name: "efi-over-tftp", Fetched: &scenario.FetchedExpect{File: "ipxe.efi", Protocol: scenario.ProtocolTFTP}}
	r := &Runner{Lab: l, BootLog: recordsFunc(func(context.Context) ([]bootlog.Record, error) { return svc.Machines(), nil })}
	for _, tc := range []struct {
		check    scenario.Check
		m        lab.Machine
		out      string // in a pass's output
		err      string // in a failure
		hopeless bool
	}{
		{overHTTP, byHTTP, "ipxe.efi over http: boot service: GET /efi/52-54-00-77-30-20/ipxe.efi", "", false},
		{overHTTP, byTFTP, "", "uefi-tftp fetched ipxe.efi over tftp, want over http only (dnsmasq: sent " + l.Dir + "/tftp/ipxe.efi to 10.77.30.21)", true},
		{overHTTP, nothing, "", "uefi-late has not fetched ipxe.efi over http yet", false},
		{overTFTP, byTFTP, "ipxe.efi over tftp: dnsmasq: sent", "", false},
		{overHTTPS, byHTTPS, "ipxe.efi over https: boot service: GET /efi/52-54-00-77-30-23/ipxe.efi", "", false},
		{overHTTPS, byHTTP, "", "uefi-http fetched ipxe.efi over http, want over https only (boot service: GET /efi/52-54-00-77-30-20/ipxe.efi", true},
		{overHTTP, byHTTPS, "", "uefi-https fetched ipxe.efi over https, want over http only", true},
		{overTFTP, byHTTP, "", "uefi-http fetched ipxe.efi over http, want over tftp only (boot service: GET /efi/52-54-00-77-30-20/ipxe.efi", true},
	} {
		out, err := r.attempt(context.Background(), tc.check, tc.m)
		switch {
		case tc.err == "" && (err != nil || !strings.Contains(out, tc.out)):
			t.Errorf("%s on %s: %q, %v; want a pass with %q", tc.check.Name, tc.m.Name, out, err, tc.out)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, ErrHopeless) != tc.hopeless):
			t.Errorf("%s on %s: %v; want %q (hopeless: %v)", tc.check.Name, tc.m.Name, err, tc.err, tc.hopeless)
		}
	}

	// The mutation through the whole runner: the wrong path fails the
	// check at its first attempt, long before the deadline.
	r.Checks, r.Deadline, r.Interval = []scenario.Check{{Name: "efi-over-http", Nodes: []string{"uefi-tftp"}, Fetched: overHTTP.Fetched}}, time.Minute, 10*time.Millisecond
	r.Lab.Machines = []lab.Machine{byTFTP}
	results, err := r.Run(context.Background())
	if err == nil || results[0].Status != Failed || results[0].Attempts != 1 || !strings.Contains(err.Error(), `check "efi-over-http" on uefi-tftp failed after 1 attempts`) {
		t.Errorf("runner: %+v, %v; want efi-over-http failed on uefi-tftp at once", results, err)
	}
}

// With a family, the fetched check tells the address families apart: a
// machine whose iPXE fetched its boot script from the boot service over
// IPv6 passes "family: ipv6"; the same check fails at once, naming the
// IPv4 address, on a machine that fetched it over IPv4 (the mutation: the
// IPv4 path taken), and keeps waiting for one that fetched nothing yet. The
// boot service is a real one, listening on ::1 and 127.0.0.1.
func TestFetchedTellsIPv6FromIPv4(t *testing.T) {
	svc, srv4 := bootsvctest.Serve(t)
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("listen on ::1 (IPv6 loopback): %v", err)
	}
	srv6 := &httptest.Server{Listener: ln, Config: &http.Server{Handler: svc.Handler()}}
	srv6.Start()
	t.Cleanup(srv6.Close)
	machine := func(name, mac, ip string) lab.Machine {
		hw, _ := net.ParseMAC(mac)
		return lab.Machine{Name: name, MAC: hw, IP: netip.MustParseAddr(ip)}
	}
	byIPv6 := machine("uefi-ipv6", "52:54:00:77:30:21", "fd00:77:30::21")
	byIPv4 := machine("uefi-plain", "52:54:00:77:30:12", "10.77.30.12")
	nothing := machine("uefi-late", "52:54:00:77:30:22", "fd00:77:30::22")
	for base, m := range map[string]lab.Machine{srv6.URL: byIPv6, srv4.URL: byIPv4} {
		resp, err := http.Get(base + "/ipxe?mac=" + strings.ReplaceAll(m.MAC.String(), ":", "-"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	l := &lab.Lab{Dir: t.TempDir(), Machines: []lab.Machine{byIPv6, byIPv4, nothing}}
	overIPv6 := scenario.Check{Name: "fetched-over-ipv6", Fetched: &scenario.FetchedExpect{File: "ipxe", Protocol: scenario.ProtocolHTTP, Family: scenario.FamilyIPv6}}
	r := &Runner{Lab: l, BootLog: recordsFunc(func(context.Context) ([]bootlog.Record, error) { return svc.Machines(), nil })}
	for _, tc := range []struct {
		m        lab.Machine
		out, err string
		hopeless bool
	}{
		{byIPv6, "ipxe over http from ::1 (ipv6): boot service: GET /ipxe", "", false},
		{byIPv4, "", "uefi-plain fetched ipxe over http from 127.0.0.1, an ipv4 address, want ipv6 (boot service: GET /ipxe", true},
		{nothing, "", "uefi-late has not fetched ipxe over http yet", false},
	} {
		out, err := r.attempt(context.Background(), overIPv6, tc.m)
		switch {
		case tc.err == "" && (err != nil || !strings.Contains(out, tc.out)):
			t.Errorf("%s: %q, %v; want a pass with %q", tc.m.Name, out, err, tc.out)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, ErrHopeless) != tc.hopeless):
			t.Errorf("%s: %v; want %q (hopeless: %v)", tc.m.Name, err, tc.err, tc.hopeless)
		}
	}
}
