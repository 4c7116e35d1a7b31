package check

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/bootsvc/bootsvctest"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

func TestReportChecksAgainstBootService(t *testing.T) {
	svc, srv := bootsvctest.Serve(t)

	mac, _ := net.ParseMAC("52:54:00:77:00:11")
	m := lab.Machine{Name: "bios1", MAC: mac, UUID: "7d3c0b1e-0b6a-4d51-9c39-000000000011", IP: netip.MustParseAddr("10.77.0.11")}
	// The machine reports a while after the runner starts, with its MAC in
	// iPXE's hyphenated form.
	time.AfterFunc(500*time.Millisecond, func() {
		resp, err := http.Get(srv.URL + "/report?mac=52-54-00-77-00-11&event=booted&detail=profile=smoke-bios")
		if err == nil {
			resp.Body.Close()
		}
	})
	r := &Runner{
		Lab: &lab.Lab{Machines: []lab.Machine{m}},
		Checks: []scenario.Check{
			{Name: "booted", Report: &scenario.ReportExpect{Event: "booted", DetailContains: "profile=smoke-bios"}},
			{Name: "installed", Report: &scenario.ReportExpect{Event: "installed"}},
		},
		Deadline: 3 * time.Second,
		Interval: 200 * time.Millisecond,
		BootLog:  recordsFunc(func(context.Context) ([]bootlog.Record, error) { return svc.Machines(), nil }),
	}
	results, firstErr := r.Run(context.Background())
	if results[0].Status != Passed {
		t.Fatalf("booted check: %+v", results[0])
	}

	// After a reprovision only new reports count: the old booted report no
	// longer passes.
	r.Since, r.Deadline, r.Checks = map[string]time.Time{"bios1": time.Now()}, 500*time.Millisecond, r.Checks[:1]
	if _, err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `no "booted" report from bios1 yet`) {
		t.Errorf("with Since after the report: err = %v, want the old report ignored", err)
	}
	if err := firstErr; err == nil || !strings.Contains(err.Error(), `check "installed" on bios1 failed`) || !strings.Contains(err.Error(), "booted profile=smoke-bios") {
		t.Fatalf("err = %v, want the installed check to fail naming the reports seen", err)
	}
}

// recordsFunc reads the machine log straight from the server, as the
// runner's other tests need no HTTP in between.
type recordsFunc func(ctx context.Context) ([]bootlog.Record, error)

func (f recordsFunc) Records(ctx context.Context) ([]bootlog.Record, error) { return f(ctx) }
