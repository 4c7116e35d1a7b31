package bmc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
)

const secret = "Fallback-Secret-77"

// closedTCP returns a loopback address nothing listens on.
func closedTCP(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentUDP returns a loopback UDP address that swallows every packet, like
// a BMC that is down behind a firewall.
func silentUDP(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestFallbackAcrossEndpoints(t *testing.T) {
	t.Setenv("FALLBACK_PW", secret)
	m := virtualtest.NewVM()
	sys := &virtual.System{Name: "node1", UUID: "6a0e2f44-9d3b-4c1a-8e7f-b25c0d9a1f37", Machine: m}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go virtual.ServeIPMI(ctx, pc, sys, virtual.Credentials{Username: "admin", Password: secret})

	ep := func(p bmc.Protocol, addr string, timeout time.Duration) bmc.Endpoint {
		return bmc.Endpoint{Protocol: p, Address: addr, Username: "admin", PasswordEnv: "FALLBACK_PW", Timeout: timeout, Auth: bmc.AuthSession}
	}
	unreachableRF := ep(bmc.Redfish, "https://"+closedTCP(t), 3*time.Second)
	silentIPMI := ep(bmc.IPMI, silentUDP(t), 2*time.Second)
	good := ep(bmc.IPMI, pc.LocalAddr().String(), 10*time.Second)

	t.Run("first unreachable, second works", func(t *testing.T) {
		c := &bmc.Client{Server: bmc.Server{Name: "node1", Endpoints: []bmc.Endpoint{unreachableRF, good}}, Dialers: protocols.Dialers()}
		if err := c.SetPower(ctx, power.ActionOn); err != nil {
			t.Fatal(err)
		}
		if st, _ := m.PowerState(ctx); st != power.On {
			t.Errorf("machine is %s", st)
		}
	})
	t.Run("both fail: both listed, no secret", func(t *testing.T) {
		c := &bmc.Client{Server: bmc.Server{Name: "node1", Endpoints: []bmc.Endpoint{unreachableRF, silentIPMI}}, Dialers: protocols.Dialers()}
		start := time.Now()
		err := c.SetPower(ctx, power.ActionOff)
		if err == nil {
			t.Fatal("succeeded")
		}
		var ae *bmc.AttemptsError
		if !errors.As(err, &ae) || len(ae.Attempts) != 2 {
			t.Fatalf("got %v, want two attempts", err)
		}
		msg := err.Error()
		for _, want := range []string{"node1", unreachableRF.String(), silentIPMI.String()} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q lacks %q", msg, want)
			}
		}
		for i, a := range ae.Attempts {
			if !errors.Is(a.Err, bmc.ErrUnreachable) && !errors.Is(a.Err, bmc.ErrTimeout) {
				t.Errorf("attempt %d: %v is neither unreachable nor a timeout", i+1, a.Err)
			}
		}
		if strings.Contains(msg, secret) {
			t.Errorf("error shows the password: %s", msg)
		}
		// Each endpoint has its own timeout: 3s + 2s at most, plus slack.
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("took %s", d)
		}
		if st, _ := m.PowerState(ctx); st != power.On {
			t.Errorf("machine changed to %s", st)
		}
	})
	t.Run("wrong password then right", func(t *testing.T) {
		t.Setenv("BAD_PW", "Bad-Secret-99")
		bad := good
		bad.PasswordEnv = "BAD_PW"
		c := &bmc.Client{Server: bmc.Server{Name: "node1", Endpoints: []bmc.Endpoint{bad}}, Dialers: protocols.Dialers()}
		_, err := c.PowerState(ctx)
		if !errors.Is(err, bmc.ErrAuth) || strings.Contains(err.Error(), "Bad-Secret-99") {
			t.Fatalf("got %v", err)
		}
		c.Server.Endpoints = append(c.Server.Endpoints, good)
		if st, err := c.PowerState(ctx); err != nil || st != power.On {
			t.Fatalf("PowerState = %s, %v", st, err)
		}
	})
}

func TestRedactHidesSecret(t *testing.T) {
	err := bmc.Redact(errors.New("login admin:"+secret+" refused"), secret)
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "***") {
		t.Errorf("got %q", err)
	}
}
