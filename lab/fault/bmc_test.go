package fault

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// TestBMCFault arms a BMC fault through the fault API a lab process serves
// (a Unix socket, the virtual BMCs' own systems behind it), proves it armed
// on that machine's BMC only, and heals it.
func TestBMCFault(t *testing.T) {
	systems := []*virtual.System{
		{Name: "node1", UUID: "00000000-0000-4000-8000-000000000001", Machine: virtualtest.NewVM()},
		{Name: "node2", UUID: "00000000-0000-4000-8000-000000000002", Machine: virtualtest.NewVM()},
	}
	sock := filepath.Join(t.TempDir(), "bmc-faults.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: virtual.NewFaultHandler(systems)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	l := &lab.Lab{Name: "t", Machines: []lab.Machine{{Name: "node1"}, {Name: "node2"}}}
	env := Env{Lab: l, BMCFaults: virtual.FaultClient{Socket: sock}}
	ctx := context.Background()
	f := scenario.Fault{Kind: scenario.FaultBMCTimeout, Machines: []string{"node2"}, Requests: 3}
	if err := Inject(ctx, env, "slow-bmc", f); err != nil {
		t.Fatal(err)
	}
	if st := systems[1].FaultStatus(); !st.Armed || st.Fault != (virtual.Fault{Kind: virtual.FaultTimeout, Requests: 3}) {
		t.Errorf("node2's BMC fault %+v, want a time-out for 3 requests", st)
	}
	if st := systems[0].FaultStatus(); st.Armed {
		t.Errorf("node1's BMC has a fault: %+v", st)
	}
	if err := Heal(ctx, env, "slow-bmc", f); err != nil {
		t.Fatal(err)
	}
	if st := systems[1].FaultStatus(); st.Armed {
		t.Errorf("healed, node2's BMC fault is %+v", st)
	}
	// Healing again is no error.
	if err := Heal(ctx, env, "slow-bmc", f); err != nil {
		t.Errorf("second heal: %v", err)
	}

	// A lab process that is gone took its faults with it: healing is done.
	gone := Env{Lab: l, BMCFaults: virtual.FaultClient{Socket: filepath.Join(t.TempDir(), "none.sock")}}
	if err := Heal(ctx, gone, "slow-bmc", f); err != nil {
		t.Errorf("heal with no lab process: %v", err)
	}
	// A lab whose BMCs are not labctl's (a rack) has nothing to arm.
	err = Inject(ctx, Env{Lab: l}, "x", f)
	if err == nil || !strings.Contains(err.Error(), "not labctl's virtual BMCs") {
		t.Errorf("inject without virtual BMCs: %v", err)
	}
	// Arming with no lab process: the error names its socket.
	if err := Inject(ctx, gone, "x", f); err == nil || !strings.Contains(err.Error(), "none.sock") || !strings.Contains(err.Error(), "node2") {
		t.Errorf("inject with no lab process: %v, want the socket and the machine named", err)
	}
}
