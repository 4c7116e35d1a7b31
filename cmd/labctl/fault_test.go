package main

import (
	"strings"
	"testing"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// A fault given by hand is refused naming the flag that gives the field.
func TestFaultFlagNames(t *testing.T) {
	l := &lab.Lab{Machines: []lab.Machine{{Name: "node1"}}}
	for _, tt := range []struct {
		name string
		f    scenario.Fault
		want string
	}{
		{"fill without path", scenario.Fault{Kind: "disk-fill", Machines: []string{"node1"}}, `--path: "": want an absolute path`},
		{"fill over 100", scenario.Fault{Kind: "disk-fill", Machines: []string{"node1"}, Path: "/var", Percent: 120}, "--percent: 120: a disk-fill fills 1 to 100 percent"},
		{"boot service down of a machine", scenario.Fault{Kind: "boot-service-down", Machines: []string{"node1"}}, "--machines: a boot-service-down acts on the whole lab's boot path: no machines"},
		{"path off a fill", scenario.Fault{Kind: "dhcp-down", Path: "/var"}, "--path: only a disk-fill has a path"},
		{"error status", scenario.Fault{Kind: "boot-service-error", Status: 200}, "--status: 200: a boot-service-error answers a server error"},
		{"unknown kind", scenario.Fault{Kind: "disk-melt"}, `KIND: "disk-melt": want one of`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := scenario.CheckFault(tt.f, l)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := flagNames(err).Error(); !strings.Contains(got, tt.want) {
				t.Errorf("error %q, want it to contain %q", got, tt.want)
			}
		})
	}
}
