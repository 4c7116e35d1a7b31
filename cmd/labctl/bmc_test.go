package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
)

func TestBMCCommands(t *testing.T) {
	const pw = "Cli-Test-Pw-3"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.pass"), []byte(pw+"\n"), 0o600)
	m := virtualtest.NewVM()
	sys := &virtual.System{Name: "good", UUID: "9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4", Machine: m}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go virtual.ServeIPMI(ctx, pc, sys, virtual.Credentials{Username: "admin", Password: pw})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	inv := fmt.Sprintf(`machines:
  - name: good
    mac: 52:54:00:10:00:01
    uuid: 9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4
    bmc:
      - protocol: ipmi
        address: %s
        username: admin
        password_file: good.pass
  - name: down
    mac: 52:54:00:10:00:02
    bmc:
      - protocol: redfish
        address: https://%s
        username: admin
        password_file: good.pass
        timeout: 3s
`, pc.LocalAddr(), closed)
	invPath := filepath.Join(dir, "inventory.yaml")
	os.WriteFile(invPath, []byte(inv), 0o644)

	run := func(args ...string) (string, error) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	cases := []struct {
		name    string
		args    []string
		wantErr string // "" for success, else the refusal
		want    []string
		check   func(t *testing.T)
	}{
		{"power on, one machine down", []string{"bmc", "power", "on", "--inventory", invPath, "good", "down"}, "1 of 2 machines failed",
			[]string{"good: power on: ok", "down: FAILED", "redfish https://" + closed, "unreachable"},
			func(t *testing.T) {
				if st, _ := m.PowerState(ctx); st != power.On {
					t.Errorf("good is %s", st)
				}
			}},
		{"bootdev pxe once uefi", []string{"bmc", "bootdev", "pxe", "--once", "--uefi", "--inventory", invPath, "good"}, "",
			[]string{"good: boot device pxe (once=true mode=uefi): ok"},
			func(t *testing.T) {
				if d, once := m.NextBoot(); d != power.BootNetwork || !once || !sys.Override().UEFI {
					t.Errorf("next boot %s once=%v, override %+v", d, once, sys.Override())
				}
			}},
		{"bootdev disk, mode unchanged", []string{"bmc", "bootdev", "disk", "--inventory", invPath, "good"}, "",
			[]string{"good: boot device disk (once=false mode=unchanged): ok"},
			func(t *testing.T) {
				if d, once := m.NextBoot(); d != power.BootDisk || once || !sys.Override().UEFI {
					t.Errorf("next boot %s once=%v, override %+v: want disk, persistent, still UEFI", d, once, sys.Override())
				}
			}},
		{"uefi and legacy", []string{"bmc", "bootdev", "pxe", "--uefi", "--legacy", "--inventory", invPath, "good"}, "--uefi and --legacy exclude each other", nil, nil},
		{"power status", []string{"bmc", "power", "status", "--inventory", invPath, "good"}, "", []string{"good: on"}, nil},
		{"unknown machine", []string{"bmc", "power", "off", "--inventory", invPath, "good", "nope"}, "inventory.yaml: no machine named nope", nil,
			func(t *testing.T) {
				if st, _ := m.PowerState(ctx); st != power.On {
					t.Errorf("good changed to %s although the command was refused", st)
				}
			}},
		{"no inventory", []string{"bmc", "power", "status", "good"}, "--inventory: required", nil, nil},
		{"bad boot device", []string{"bmc", "bootdev", "cdrom", "--inventory", invPath, "good"}, `boot device "cdrom": want pxe, disk or uefi-http: not supported by the BMC`, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(tc.args...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v\n%s", err, out)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one containing %q\n%s", err, tc.wantErr, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, pw) || (err != nil && strings.Contains(err.Error(), pw)) {
				t.Errorf("password printed")
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}
