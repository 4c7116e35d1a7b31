package bmc_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
)

// BenchmarkPowerStatus measures one `labctl bmc power status` round trip
// per machine (connect, authenticate, read, close) against the virtual BMCs.
func BenchmarkPowerStatus(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cred := virtual.Credentials{Username: "admin", Password: secret}
	b.Setenv("BENCH_PW", secret)
	sys := &virtual.System{Name: "n", UUID: "7f3e2d1c-0b9a-4887-a665-544332211000", Machine: virtualtest.NewVM()}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go virtual.ServeIPMI(ctx, pc, sys, cred)
	cert, caPEM, _ := virtualtest.NewCertificate("127.0.0.1")
	ca := filepath.Join(b.TempDir(), "ca.pem")
	os.WriteFile(ca, caPEM, 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go virtual.ServeRedfish(ctx, ln, cert, []*virtual.System{sys}, cred)

	eps := map[string]bmc.Endpoint{
		"ipmi":            {Protocol: bmc.IPMI, Address: pc.LocalAddr().String()},
		"redfish-session": {Protocol: bmc.Redfish, Address: "https://" + ln.Addr().String(), CAFile: ca, Auth: bmc.AuthSession},
		"redfish-basic":   {Protocol: bmc.Redfish, Address: "https://" + ln.Addr().String(), CAFile: ca, Auth: bmc.AuthBasic},
	}
	for _, name := range []string{"ipmi", "redfish-session", "redfish-basic"} {
		ep := eps[name]
		ep.Username, ep.PasswordEnv, ep.Timeout = "admin", "BENCH_PW", 10*time.Second
		c := &bmc.Client{Server: bmc.Server{Name: "n", Endpoints: []bmc.Endpoint{ep}}, Dialers: protocols.Dialers()}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.PowerState(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
