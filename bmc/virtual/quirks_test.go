package virtual_test

import (
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
)

func TestProfile(t *testing.T) {
	if q, err := virtual.Profile(""); err != nil || q != (virtual.Quirks{}) {
		t.Errorf(`Profile(""): %+v, %v; want standard`, q, err)
	}
	q, err := virtual.Profile("idrac")
	if err != nil || q.SystemID != "System.Embedded.1" || q.BootMode != "fixed" {
		t.Errorf("Profile(idrac): %+v, %v", q, err)
	}
	_, err = virtual.Profile("supermicro")
	if want := `"supermicro" is not a virtual BMC profile (one of busy, idrac, ilo, no-once, slow, standard, sushy-tools, virtualbmc)`; err == nil || err.Error() != want {
		t.Errorf("Profile(supermicro): %v, want %s", err, want)
	}
}

func TestRedfishHandlerRefusesMixedServices(t *testing.T) {
	no := false
	sys := func(name, uuid string, q virtual.Quirks) *virtual.System {
		return &virtual.System{Name: name, UUID: uuid, Machine: virtualtest.NewVM(), Quirks: q}
	}
	tests := []struct {
		name    string
		systems []*virtual.System
		want    string
	}{
		{"service quirks differ", []*virtual.System{sys("a", testUUID, virtual.Quirks{}), sys("b", "0b6c3f1e-7a2d-4c5e-9f80-1a2b3c4d5e6f", virtual.Quirks{Sessions: &no})},
			"redfish: system b: its service quirks differ from a's; serve them apart"},
		{"same vendor id", []*virtual.System{sys("a", testUUID, virtual.Quirks{SystemID: "1"}), sys("b", "0b6c3f1e-7a2d-4c5e-9f80-1a2b3c4d5e6f", virtual.Quirks{SystemID: "1"})},
			"redfish: systems share the Id 1"},
		{"bad quirk", []*virtual.System{sys("a", testUUID, virtual.Quirks{Once: "sometimes"})},
			`redfish: system a: quirks: once: "sometimes" is not unsupported or ignored`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := virtual.NewRedfishHandler(tt.systems, testCred)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
