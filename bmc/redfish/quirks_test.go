package redfish_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/redfish"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
)

// logBuffer collects a client's log lines (its warnings).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// quirkyBMC is a machine behind the real virtual BMC with quirks q, and a
// client (auth auto unless ep says otherwise) whose log is kept.
type quirkyBMC struct {
	m   *virtualtest.VM
	sys *virtual.System
	c   *bmc.Client
	log *logBuffer
}

func startQuirky(t *testing.T, q virtual.Quirks, ep bmc.Endpoint) quirkyBMC {
	t.Helper()
	m := virtualtest.NewVM()
	sys := &virtual.System{Name: "node1", UUID: uuid, Machine: m, Quirks: q}
	url, ca := serve(t, sys)
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ep.Protocol, ep.Address, ep.CAFile, ep.Username, ep.PasswordFile, ep.SystemUUID = bmc.Redfish, url, ca, "admin", pw, uuid
	if ep.Timeout == 0 {
		ep.Timeout = 15 * time.Second
	}
	lb := &logBuffer{}
	return quirkyBMC{m: m, sys: sys, log: lb, c: &bmc.Client{
		Server:       bmc.Server{Name: "node1", Endpoints: []bmc.Endpoint{ep}},
		Dialers:      map[bmc.Protocol]bmc.Dialer{bmc.Redfish: redfish.Dial},
		Log:          slog.New(slog.NewTextHandler(lb, nil)),
		PollInterval: 50 * time.Millisecond,
		Settle:       3 * time.Second,
	}}
}

// TestQuirkProfiles drives the client through every quirk profile of the
// virtual BMC and checks what the machine did: power, the device it booted
// from, and a one-time boot that a BMC without one became persistent, said
// in a warning naming the machine.
func TestQuirkProfiles(t *testing.T) {
	for _, name := range virtual.ProfileNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q, err := virtual.Profile(name)
			if err != nil {
				t.Fatal(err)
			}
			b := startQuirky(t, q, bmc.Endpoint{})
			ctx := context.Background()
			onceHonoured := q.Once == ""

			if err := b.c.SetPower(ctx, power.ActionOn); err != nil {
				t.Fatalf("power on: %v", err)
			}
			if st, _ := b.m.PowerState(ctx); st != power.On {
				t.Fatalf("machine is %s after power on", st)
			}
			applied, err := b.c.SetBoot(ctx, power.BootNetwork, power.BootOptions{})
			if err != nil {
				t.Fatalf("bootdev pxe once: %v", err)
			}
			d, once := b.m.NextBoot()
			if d != power.BootNetwork || once != onceHonoured || applied.Persistent == onceHonoured {
				t.Errorf("after pxe once: next boot %s once=%v, client says persistent=%v; want once=%v", d, once, applied.Persistent, onceHonoured)
			}
			if warned := strings.Contains(b.log.String(), "node1: BMC "); warned == onceHonoured {
				t.Errorf("warning about one-time boot given=%v, want %v; log:\n%s", warned, !onceHonoured, b.log)
			}
			if err := b.c.SetPower(ctx, power.ActionCycle); err != nil {
				t.Fatalf("power cycle: %v", err)
			}
			if boots := b.m.Boots(); len(boots) != 2 || boots[1] != power.BootNetwork {
				t.Errorf("boots %v, want [disk network]", boots)
			}
			if err := b.c.SetBootDevice(ctx, power.BootDisk, power.BootOptions{Persistent: true}); err != nil {
				t.Fatalf("bootdev disk: %v", err)
			}
			if d, once := b.m.NextBoot(); d != power.BootDisk || once {
				t.Errorf("after disk persistent: next boot %s once=%v", d, once)
			}

			// A mode asked for: applied, refused before anything is sent, or
			// the BMC's own failure, as the profile says.
			err = b.c.SetBootDevice(ctx, power.BootNetwork, power.BootOptions{Persistent: true, Mode: power.BootModeUEFI})
			switch q.BootMode {
			case "":
				if err != nil || !b.sys.Override().UEFI {
					t.Errorf("bootdev pxe --uefi: %v, override %+v", err, b.sys.Override())
				}
			case "fixed":
				if !errors.Is(err, bmc.ErrUnsupported) || !strings.Contains(err.Error(), "node1") ||
					!strings.Contains(err.Error(), "BootSourceOverrideMode UEFI is not among the allowed Legacy") {
					t.Errorf("bootdev pxe --uefi: %v; want a refusal naming node1 and the allowed Legacy", err)
				}
				if d, _ := b.m.NextBoot(); d != power.BootDisk {
					t.Errorf("refused request changed the next boot to %s", d)
				}
			case "fails":
				if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error") || !strings.Contains(err.Error(), "no loader path") {
					t.Errorf("bootdev pxe --uefi: %v; want the BMC's 500", err)
				}
			}
			if err := b.c.SetPower(ctx, power.ActionOff); err != nil {
				t.Fatalf("power off: %v", err)
			}
			if st, err := b.c.PowerState(ctx); st != power.Off || err != nil {
				t.Errorf("client reads %s, %v after power off", st, err)
			}
		})
	}
}

// TestAuth checks auth auto, and the error that says what the service
// lacked and what to set when sessions are asked of a BMC without them.
func TestAuth(t *testing.T) {
	ctx := context.Background()
	noSessions := false
	tests := []struct {
		name string
		q    virtual.Quirks
		auth bmc.Auth
		want string // in the error; "" means success
	}{
		{"auto with sessions", virtual.Quirks{}, bmc.AuthAuto, ""},
		{"auto without sessions", virtual.Quirks{Sessions: &noSessions}, bmc.AuthAuto, ""},
		{"empty is auto", virtual.Quirks{Sessions: &noSessions}, "", ""},
		{"basic without sessions", virtual.Quirks{Sessions: &noSessions}, bmc.AuthBasic, ""},
		{"session without sessions", virtual.Quirks{Sessions: &noSessions}, bmc.AuthSession,
			"node1: power on failed on every BMC endpoint: [1] redfish https://127.0.0.1:PORT: log in: the service root links no SessionService, so this BMC has no sessions: set auth: basic (or auto) for this endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startQuirky(t, tt.q, bmc.Endpoint{Auth: tt.auth})
			err := b.c.SetPower(ctx, power.ActionOn)
			st, _ := b.m.PowerState(ctx)
			if tt.want == "" {
				if err != nil || st != power.On {
					t.Errorf("power on: %v; machine %s", err, st)
				}
				return
			}
			addr := strings.TrimPrefix(b.c.Server.Endpoints[0].Address, "https://127.0.0.1:")
			if want := strings.ReplaceAll(tt.want, "PORT", addr); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want %q", err, want)
			}
			if st != power.Off {
				t.Errorf("machine powered %s by a refused request", st)
			}
		})
	}
}

// TestResetRetry: a busy answer to a reset is repeated only when the power
// state proves the reset did not happen.
func TestResetRetry(t *testing.T) {
	ctx := context.Background()
	t.Run("on is repeated while still off", func(t *testing.T) {
		b := startQuirky(t, virtual.Quirks{BusyResets: 2}, bmc.Endpoint{})
		if err := b.c.SetPower(ctx, power.ActionOn); err != nil {
			t.Fatal(err)
		}
		if boots := b.m.Boots(); len(boots) != 1 {
			t.Errorf("boots %v, want exactly one", boots)
		}
	})
	t.Run("cycle is not repeated", func(t *testing.T) {
		b := startQuirky(t, virtual.Quirks{BusyResets: 1}, bmc.Endpoint{})
		b.c.Retry = bmc.Retry{Attempts: 1} // the connection's own behaviour
		b.m.SetOn(true)
		err := b.c.SetPower(ctx, power.ActionCycle)
		if err == nil || !strings.Contains(err.Error(), "reset PowerCycle (not repeated") || !strings.Contains(err.Error(), "503 Service Unavailable") {
			t.Errorf("got %v, want the busy answer, not repeated", err)
		}
		if boots := b.m.Boots(); len(boots) != 0 {
			t.Errorf("boots %v: a refused reset booted the machine", boots)
		}
		// The next cycle goes through.
		if err := b.c.SetPower(ctx, power.ActionCycle); err != nil {
			t.Fatal(err)
		}
		if boots := b.m.Boots(); len(boots) != 1 {
			t.Errorf("boots %v, want one", boots)
		}
	})
	t.Run("a cycle answered 503 is sent again by the client's next round", func(t *testing.T) {
		// 503 says the service did not act: the client, not the connection, asks again.
		b := startQuirky(t, virtual.Quirks{BusyResets: 1}, bmc.Endpoint{})
		b.c.Retry = bmc.Retry{Attempts: 2, Backoff: 100 * time.Millisecond}
		b.m.SetOn(true)
		if err := b.c.SetPower(ctx, power.ActionCycle); err != nil {
			t.Fatal(err)
		}
		if boots := b.m.Boots(); len(boots) != 1 {
			t.Errorf("boots %v, want exactly one", boots)
		}
	})
	t.Run("busy beyond the timeout", func(t *testing.T) {
		b := startQuirky(t, virtual.Quirks{BusyRequests: 1000}, bmc.Endpoint{Timeout: 2 * time.Second})
		b.c.Retry = bmc.Retry{Attempts: 1}
		_, err := b.c.PowerState(ctx)
		if err == nil || !strings.Contains(err.Error(), "GET /redfish/v1/: 503 Service Unavailable") || !strings.Contains(err.Error(), "attempts)") {
			t.Errorf("got %v, want the last busy answer and the number of attempts", err)
		}
	})
}

// TestSlowBMC: answers slower than the endpoint's timeout are a time-out
// naming the endpoint's budget.
func TestSlowBMC(t *testing.T) {
	b := startQuirky(t, virtual.Quirks{Delay: virtual.Duration(300 * time.Millisecond)}, bmc.Endpoint{Timeout: 200 * time.Millisecond})
	_, err := b.c.PowerState(context.Background())
	if !errors.Is(err, bmc.ErrTimeout) || !strings.Contains(err.Error(), "timed out after 200ms") {
		t.Errorf("got %v, want a time-out after 200ms", err)
	}
}

// TestPlainHTTPWarns: credentials over http:// work but are warned about.
func TestPlainHTTPWarns(t *testing.T) {
	m := virtualtest.NewVM()
	h, err := virtual.NewRedfishHandler([]*virtual.System{{Name: "node1", UUID: uuid, Machine: m}}, virtual.Credentials{Username: "admin", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := startQuirky(t, virtual.Quirks{}, bmc.Endpoint{})
	b.c.Server.Endpoints[0].Address, b.c.Server.Endpoints[0].CAFile = srv.URL, ""
	if err := b.c.SetPower(context.Background(), power.ActionOn); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.PowerState(context.Background()); st != power.On {
		t.Errorf("machine is %s", st)
	}
	if want := "node1: plain HTTP: the BMC password crosses the network unencrypted"; !strings.Contains(b.log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, b.log)
	}
}
