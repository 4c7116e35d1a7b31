package redfish_test

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
	"github.com/labctl/labctl/bmc/redfish"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
)

const (
	password = "Redfish-Test-Pw1"
	uuid     = "3d9b8a1c-52e4-4f6b-a0c7-19e2d4b6f803"
)

func start(t *testing.T) (*virtualtest.VM, string, string) {
	t.Helper()
	m := virtualtest.NewVM()
	url, ca := serve(t, &virtual.System{Name: "node1", UUID: uuid, Machine: m})
	return m, url, ca
}

// serve runs the real virtual BMC's Redfish service for sys on loopback
// and returns its URL and CA file.
func serve(t *testing.T, sys *virtual.System) (string, string) {
	t.Helper()
	cert, caPEM, err := virtualtest.NewCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, caPEM, 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		virtual.ServeRedfish(ctx, ln, cert, []*virtual.System{sys}, virtual.Credentials{Username: "admin", Password: password})
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return "https://" + ln.Addr().String(), ca
}

func client(t *testing.T, ep bmc.Endpoint, pass string) *bmc.Client {
	t.Setenv("TEST_RF_PASSWORD", pass)
	ep.Protocol, ep.Username, ep.PasswordEnv, ep.SystemUUID = bmc.Redfish, "admin", "TEST_RF_PASSWORD", uuid
	ep.Timeout = 10 * time.Second
	return &bmc.Client{
		Server:       bmc.Server{Name: "node1", Endpoints: []bmc.Endpoint{ep}},
		Dialers:      map[bmc.Protocol]bmc.Dialer{bmc.Redfish: redfish.Dial},
		PollInterval: 50 * time.Millisecond,
		Settle:       2 * time.Second,
	}
}

func TestAgainstVirtualBMC(t *testing.T) {
	ctx := context.Background()
	for _, auth := range []bmc.Auth{bmc.AuthSession, bmc.AuthBasic} {
		t.Run(string(auth), func(t *testing.T) {
			m, url, ca := start(t)
			c := client(t, bmc.Endpoint{Address: url, CAFile: ca, Auth: auth}, password)
			steps := []struct {
				name  string
				do    func() error
				check func(t *testing.T)
			}{
				{"on", func() error { return c.SetPower(ctx, power.ActionOn) }, func(t *testing.T) {
					if st, _ := m.PowerState(ctx); st != power.On {
						t.Errorf("machine is %s", st)
					}
				}},
				{"pxe once", func() error {
					return c.SetBootDevice(ctx, power.BootNetwork, power.BootOptions{Mode: power.BootModeUEFI})
				}, func(t *testing.T) {
					if d, once := m.NextBoot(); d != power.BootNetwork || !once {
						t.Errorf("next boot %s once=%v", d, once)
					}
				}},
				{"cycle", func() error { return c.SetPower(ctx, power.ActionCycle) }, func(t *testing.T) {
					if b := m.Boots(); len(b) != 2 || b[1] != power.BootNetwork {
						t.Errorf("boots %v", b)
					}
				}},
				{"disk persistent", func() error { return c.SetBootDevice(ctx, power.BootDisk, power.BootOptions{Persistent: true}) }, func(t *testing.T) {
					if d, once := m.NextBoot(); d != power.BootDisk || once {
						t.Errorf("next boot %s once=%v", d, once)
					}
				}},
				{"soft off", func() error { return c.SetPower(ctx, power.ActionSoftOff) }, func(t *testing.T) {
					if st, _ := c.PowerState(ctx); st != power.Off {
						t.Errorf("client reads %s", st)
					}
				}},
			}
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) {
					if err := s.do(); err != nil {
						t.Fatal(err)
					}
					s.check(t)
				})
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	m, url, ca := start(t)
	cases := []struct {
		name string
		ep   bmc.Endpoint
		pass string
		kind error    // wanted errors.Is target, or nil
		text []string // wanted in the message: the service's own refusal
	}{
		{"wrong password", bmc.Endpoint{Address: url, CAFile: ca}, "wrong-rf-password", bmc.ErrAuth,
			[]string{"log in: BMC refused the credentials: POST /redfish/v1/SessionService/Sessions: 401 Unauthorized", "Base.1.16.NoValidSession", "wrong user name or password"}},
		{"wrong password basic", bmc.Endpoint{Address: url, CAFile: ca, Auth: bmc.AuthBasic}, "wrong-rf-password", bmc.ErrAuth,
			[]string{"list systems: BMC refused the credentials", "401", "Base.1.16.NoValidSession"}},
		{"untrusted certificate", bmc.Endpoint{Address: url}, password, nil,
			[]string{"TLS certificate not trusted", "x509: certificate signed by unknown authority"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := client(t, tc.ep, tc.pass).SetPower(ctx, power.ActionOn)
			if err == nil {
				t.Fatal("succeeded")
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("got %v, want %v", err, tc.kind)
			}
			for _, w := range tc.text {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), tc.pass) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	t.Run("insecure when asked", func(t *testing.T) {
		if err := client(t, bmc.Endpoint{Address: url, Insecure: true}, password).SetPower(ctx, power.ActionOn); err != nil {
			t.Fatal(err)
		}
	})
	if st, _ := m.PowerState(ctx); st != power.On {
		t.Errorf("machine is %s after the insecure power on", st)
	}
}
