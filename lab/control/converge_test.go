package control

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/eventlog"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// TestConvergeReportsFailingCheck runs pxe-smoke's checks against labs
// whose machines never report: each run fails on its first check, says so
// as an event and in its error (with what shows why), and never runs the
// checks after it.
func TestConvergeReportsFailingCheck(t *testing.T) {
	const console = "SeaBIOS (version 1.16.2-debian-1.16.2-1)\nBooting from Hard Disk...\nBoot failed: not a bootable disk\n"
	tests := []struct {
		name     string
		deadline time.Duration
		breakIt  func(t *testing.T, st *state.State)
		want     []string // in the error
	}{
		{name: "no report before the deadline", deadline: 3 * time.Second,
			want: []string{`scenario pxe-smoke: check "booted-bios-profile" on bios1 failed`, "Boot failed: not a bootable disk"}},
		// Failing fast: the scenario's own deadline (5 minutes) is never reached.
		{name: "lab process failed", breakIt: func(t *testing.T, st *state.State) {
			st.Phase, st.Error = state.Failed, "dnsmasq: failed to bind DHCP server socket"
			os.WriteFile(st.Lab.ProcessLog(), []byte("level=ERROR msg=\"dnsmasq exited\" why=bind\n"), 0o644)
		}, want: []string{`check "booted-bios-profile" on bios1 failed`, "lab process failed: dnsmasq: failed to bind DHCP server socket", `msg="dnsmasq exited"`}},
		{name: "lab process died", breakIt: func(t *testing.T, st *state.State) {
			st.Phase, st.Pids = state.Running, map[string]int{"labd": deadPid(t)}
			os.WriteFile(st.Lab.ProcessLog(), []byte("panic: the lab process broke\n"), 0o644)
		}, want: []string{`check "booted-bios-profile" on bios1 failed`, "lab process ", " died:", "panic: the lab process broke"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, sc := pxeSmoke(t, t.TempDir(), "labctl-trust-never-made")
			if tt.deadline != 0 {
				sc.Deadline = scenario.Duration(tt.deadline)
			}
			serial := st.Lab.MachineFiles("bios1").SerialLog
			if err := os.MkdirAll(filepath.Dir(serial), 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(serial, []byte(console), 0o644)
			if tt.breakIt != nil {
				tt.breakIt(t, st)
			}
			if err := state.Create(st); err != nil {
				t.Fatal(err)
			}
			var ev events
			run, err := (&Lab{State: st, Scenario: sc, report: &ev}).Converge(context.Background())
			if err == nil {
				t.Fatal("Converge passed with machines that never reported")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if got, want := ev.all(), "check booted-bios-profile on bios1 failed"; !slices.Contains(got, want) {
				t.Errorf("events %q lack %q", got, want)
			}
			var statuses []string
			for _, r := range run.Results {
				statuses = append(statuses, r.Node+" "+string(r.Status))
			}
			if want := []string{"bios1 " + string(check.Failed), "uefi1 " + string(check.NotRun)}; !slices.Equal(statuses, want) {
				t.Errorf("results %q, want %q", statuses, want)
			}
		})
	}
}

// The event log's word for a passed check is lab/check's.
func TestEventLogPassed(t *testing.T) {
	if string(check.Passed) != eventlog.StatusPassed {
		t.Errorf("check.Passed %q, eventlog.StatusPassed %q", check.Passed, eventlog.StatusPassed)
	}
}

// reportsAfter is a boot log whose machine reports only once the run's
// context has ended: what a check saw between the watcher's polls.
type reportsAfter struct {
	ctx context.Context
	mac string
}

func (r reportsAfter) Records(context.Context) ([]bootlog.Record, error) {
	if r.ctx.Err() == nil {
		return nil, nil
	}
	return []bootlog.Record{{MAC: r.mac, Events: []bootlog.Event{{Kind: bootlog.KindReport, Name: "booted", Detail: "secureboot=enabled"}}}}, nil
}

// TestFinalPollShowsLastReport: the report a check passed on is shown even
// when it reached the boot service after the watcher's last poll.
func TestFinalPollShowsLastReport(t *testing.T) {
	st, _ := pxeSmoke(t, t.TempDir(), "labctl-trust-never-made")
	if err := state.Create(st); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := progress.NewWatcher(st.Lab, nil)
	w.BootLog = reportsAfter{ctx: ctx, mac: st.Lab.Machines[0].MAC.String()}
	var ev events
	var timeline progress.Timeline
	w.Poll(ctx)
	cancel()
	finalPoll(ctx, w, &ev, &timeline)
	if got, want := ev.all(), "bios1: report booted: secureboot=enabled"; !slices.Contains(got, want) {
		t.Errorf("events %q lack %q", got, want)
	}
}

// TestWatchSkipsHistory: a lab opened again (verify) or restored from a
// snapshot has logs that hold its earlier run; the watcher reports only
// what follows, while a lab just booted shows all of it.
func TestWatchSkipsHistory(t *testing.T) {
	for _, history := range []bool{false, true} {
		t.Run(fmt.Sprintf("history=%v", history), func(t *testing.T) {
			st, _ := pxeSmoke(t, t.TempDir(), "labctl-trust-never-made")
			if err := state.Create(st); err != nil {
				t.Fatal(err)
			}
			const old = "Nov 29 23:05:01 dnsmasq-dhcp[41]: 2914 DHCPACK(labbr0) 10.77.0.11 52:54:00:77:00:11 bios1\n"
			if err := os.WriteFile(st.Lab.DnsmasqLog(), []byte(old), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var ev events
			var timeline progress.Timeline
			_, _, stopped := watch(ctx, &ev, st, &timeline, history)
			time.Sleep(300 * time.Millisecond)
			f, err := os.OpenFile(st.Lab.DnsmasqLog(), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("Nov 29 23:09:01 dnsmasq-dhcp[41]: 2915 DHCPACK(labbr0) 10.77.0.12 52:54:00:77:00:12 uefi1\n")
			f.Close()
			time.Sleep(600 * time.Millisecond)
			cancel()
			<-stopped
			want := []string{"bios1: DHCP lease 10.77.0.11", "uefi1: DHCP lease 10.77.0.12"}
			if history {
				want = want[1:]
			}
			if got := ev.all(); !slices.Equal(got, want) {
				t.Errorf("steps reported %q, want %q", got, want)
			}
		})
	}
}
