package control

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/lab/dashboard"
	"github.com/labctl/labctl/lab/eventlog"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// A fault injected and healed by hand (labctl fault) lands in the lab's
// event log as a step's phases do, marked by hand, with its machines and
// how long it held; so does one healed by down. The faults are real: BMC
// faults armed on the virtual BMCs a lab process serves on the lab's
// socket, proven armed and cleared.
func TestHandFaultsInEventLog(t *testing.T) {
	st, sc := pxeSmoke(t, t.TempDir(), "labctl-test-none")
	if err := state.Create(st); err != nil {
		t.Fatal(err)
	}
	systems := []*virtual.System{
		{Name: "bios1", UUID: "00000000-0000-4000-8000-000000000001", Machine: virtualtest.NewVM()},
		{Name: "uefi1", UUID: "00000000-0000-4000-8000-000000000002", Machine: virtualtest.NewVM()},
	}
	ln, err := net.Listen("unix", st.Lab.BMCFaultSocket())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: virtual.NewFaultHandler(systems)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// Converge's timeline comes first; the faults follow on its clock.
	zero := time.Now().Add(-time.Minute)
	w, err := eventlog.Create(st.Lab.EventLog())
	if err != nil {
		t.Fatal(err)
	}
	w.Add(eventlog.Entry{Time: zero.UTC(), Machine: "bios1", Kind: "lease", Text: "DHCP lease"})
	w.Close()

	ctx := context.Background()
	lb := &Lab{State: st, Scenario: sc, report: &events{}}
	busy := scenario.Fault{Kind: scenario.FaultBMCError, Machines: []string{"bios1"}, Requests: 2}
	if _, err := lb.Inject(ctx, "busy", busy); err != nil {
		t.Fatal(err)
	}
	if !systems[0].FaultStatus().Armed {
		t.Fatal("bios1's BMC fault is not armed")
	}
	if err := lb.Heal(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	silent := scenario.Fault{Kind: scenario.FaultBMCTimeout, Machines: []string{"uefi1"}}
	if _, err := lb.Inject(ctx, "silent", silent); err != nil {
		t.Fatal(err)
	}
	v, err := dashboard.Read(ctx, st.Lab.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range v.Steps {
		var marks []string
		for _, m := range s.Marks {
			marks = append(marks, m.Phase)
		}
		got = append(got, s.Name+" "+s.Fault+" on "+strings.Join(s.Machines, ",")+": "+strings.Join(marks, ",")+": "+s.Verdict())
		if !s.ByHand {
			t.Errorf("fault %s is not marked by hand", s.Name)
		}
		// On Converge's clock: a minute after its first entry, at least.
		if s.Start < time.Minute {
			t.Errorf("fault %s starts at %s on the log's clock, want after its lease a minute ago", s.Name, s.Start)
		}
	}
	want := []string{"busy bmc-error bios1 for 2 requests on bios1: injected,healed: healed", "silent bmc-timeout uefi1 on uefi1: injected: active"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("faults in the event log:\n%q\nwant\n%q", got, want)
	}

	// down heals what is still active, and the log says so.
	rec, err := state.Load(st.Lab.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := healAll(ctx, rec, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if systems[1].FaultStatus().Armed {
		t.Error("uefi1's BMC fault is still armed after healAll")
	}
	entries, err := eventlog.Read(st.Lab.EventLog())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(entries, func(e eventlog.Entry) bool { return e.Name == "silent" && e.Status == string(StepHealed) })
	if i < 0 {
		t.Fatalf("no healing of silent in the event log: %+v", entries)
	}
	if e := entries[i]; !e.ByHand || e.Kind != eventlog.KindStep || !reflect.DeepEqual(e.Machines, []string{"uefi1"}) || e.Took <= 0 {
		t.Errorf("silent healed by down logged as %+v, want by hand on uefi1, with how long it held", e)
	}
}
