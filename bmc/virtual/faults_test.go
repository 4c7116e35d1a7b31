package virtual_test

import (
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/internal/testenv"
)

// TestIPMIToolSeesFaults: ipmitool, a real client, meets an armed fault as
// a real BMC's answer, and the BMC answers again once it is spent.
func TestIPMIToolSeesFaults(t *testing.T) {
	testenv.Tool(t, "ipmitool", "ipmitool")
	_, sys, port := startIPMI(t)
	run := func(args ...string) (string, error) {
		return ipmitool(t, port, testCred.Username, testCred.Password, nil, args...)
	}
	if err := sys.SetFault(virtual.Fault{Kind: virtual.FaultError, Requests: 1}); err != nil {
		t.Fatal(err)
	}
	if out, err := run("chassis", "power", "status"); err == nil || !strings.Contains(out, "Node busy") {
		t.Errorf("power status under a busy fault: %v\n%s\nwant Node busy", err, out)
	}
	if out, err := run("chassis", "power", "status"); err != nil || !strings.Contains(out, "Chassis Power is off") {
		t.Errorf("power status once the fault is spent: %v\n%s", err, out)
	}
	if err := sys.SetFault(virtual.Fault{Kind: virtual.FaultRefuseBoot}); err != nil {
		t.Fatal(err)
	}
	if out, err := run("chassis", "bootdev", "pxe"); err == nil && !strings.Contains(out, "Node busy") {
		t.Errorf("bootdev pxe under refuse-boot: %v\n%s\nwant Node busy", err, out)
	}
	if d := sys.Override().Device; d != "" {
		t.Errorf("a refused boot override set %s", d)
	}
	sys.ClearFault()
	if out, err := run("chassis", "bootdev", "pxe"); err != nil {
		t.Errorf("bootdev pxe once healed: %v\n%s", err, out)
	}
	if d := sys.Override().Device; d == "" {
		t.Error("boot override not set once the fault was cleared")
	}
	if st := sys.FaultStatus(); st.Armed {
		t.Errorf("fault still armed: %+v", st)
	}
}
