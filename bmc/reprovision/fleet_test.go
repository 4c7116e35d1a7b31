package reprovision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/protocols"
	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/internal/power"
)

// rackMachine is a machine behind a virtual IPMI BMC on loopback, known to
// the test boot service by its MAC (groups n1..n8 of bootData, 4 broken).
type rackMachine struct {
	name, mac string
	vm        *virtualtest.VM
	target    reprovision.Target
}

// rack starts a virtual IPMI BMC for each of the machines numbered ns; a
// machine numbered in badPassword logs in with the wrong password. Each
// machine netboots (against base) when it boots from the network, after
// gate, if set, lets it.
func rack(t *testing.T, ctx context.Context, base string, ns []int, badPassword []int, gate func()) []*rackMachine {
	t.Helper()
	t.Setenv("RP_PW", password)
	t.Setenv("RP_BAD_PW", "not-"+password)
	cred := virtual.Credentials{Username: "admin", Password: password}
	var ms []*rackMachine
	for _, n := range ns {
		m := &rackMachine{name: fmt.Sprintf("n%d", n), mac: fmt.Sprintf("52:54:00:00:00:%02d", n), vm: virtualtest.NewVM()}
		uuid := fmt.Sprintf("11111111-2222-4333-8444-5555555555%02d", n)
		m.vm.SetOn(true)
		m.vm.OnBoot = func(d power.BootDevice) {
			if d != power.BootNetwork {
				return
			}
			go func() {
				if gate != nil {
					gate()
				}
				netboot(t, base, m.mac, uuid)
			}()
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go virtual.ServeIPMI(ctx, pc, &virtual.System{Name: m.name, UUID: uuid, Machine: m.vm}, cred)
		pwEnv := "RP_PW"
		if slices.Contains(badPassword, n) {
			pwEnv = "RP_BAD_PW"
		}
		ep := bmc.Endpoint{Protocol: bmc.IPMI, Address: pc.LocalAddr().String(), Username: "admin", PasswordEnv: pwEnv, Timeout: 10 * time.Second}
		mac, _ := net.ParseMAC(m.mac)
		m.target = reprovision.Target{Name: m.name, MAC: mac, UUID: uuid,
			BMC: &bmc.Client{Server: bmc.Server{Name: m.name, Endpoints: []bmc.Endpoint{ep}}, Dialers: protocols.Dialers()}}
		ms = append(ms, m)
	}
	return ms
}

func targetsOf(ms []*rackMachine) []reprovision.Target {
	var ts []reprovision.Target
	for _, m := range ms {
		ts = append(ts, m.target)
	}
	return ts
}

// countingWaiter counts the machines waiting for their config fetch at
// once and the most ever seen; every change is signalled on changed.
type countingWaiter struct {
	reprovision.Waiter
	mu                       sync.Mutex
	inFlight, most, finished int
	changed                  chan struct{}
}

func (w *countingWaiter) WaitFetched(ctx context.Context, t reprovision.Target, mark uint64) error {
	w.step(+1, 0)
	defer w.step(-1, 1)
	return w.Waiter.WaitFetched(ctx, t, mark)
}

func (w *countingWaiter) step(d, f int) {
	w.mu.Lock()
	w.inFlight += d
	w.finished += f
	w.most = max(w.most, w.inFlight)
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// await waits until cond holds of (in flight, finished), or fails the test.
func (w *countingWaiter) await(t *testing.T, what string, cond func(inFlight, finished int) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		ok := cond(w.inFlight, w.finished)
		in, fin := w.inFlight, w.finished
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-w.changed:
		case <-deadline:
			t.Fatalf("%s: not reached (%d in flight, %d finished)", what, in, fin)
		}
	}
}

// TestRunParallelBound reprovisions seven machines, three at a time: each
// machine's network boot waits for the test, which lets one go only once
// as many machines as the bound allows are waiting. The most ever in flight
// is the bound: never more, and the bound is used.
func TestRunParallelBound(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := bootService(t)
	release := make(chan struct{})
	ms := rack(t, ctx, base, []int{1, 2, 3, 5, 6, 7, 8}, nil, func() { <-release })
	const bound = 3
	w := &countingWaiter{Waiter: &reprovision.FetchWaiter{Log: &bootlog.Client{URL: base}, Interval: 20 * time.Millisecond}, changed: make(chan struct{}, 1)}
	done := make(chan []reprovision.Result)
	go func() { done <- reprovision.Run(ctx, targetsOf(ms), w, reprovision.Options{Parallel: bound}) }()
	for fin := 0; fin < len(ms); fin++ {
		want := min(bound, len(ms)-fin)
		w.await(t, fmt.Sprintf("%d in flight after %d finished", want, fin), func(in, f int) bool { return in >= want && f == fin })
		release <- struct{}{}
		w.await(t, fmt.Sprintf("%d finished", fin+1), func(_, f int) bool { return f == fin+1 })
	}
	results := <-done
	if w.most != bound {
		t.Errorf("at most %d machines in flight, want %d", w.most, bound)
	}
	for i, r := range results {
		if r.Err != nil || r.Phase != reprovision.PhaseDone || r.Name != ms[i].name || r.Duration <= 0 {
			t.Errorf("result %d: %+v, want %s done", i, r, ms[i].name)
		}
	}
}

// fakeChecks is a Verifier standing for the scenario's checks: it records
// what each run was told and fails the run numbered failAt (1-based).
type fakeChecks struct {
	failAt int
	runs   [][]string // the machines in since, sorted, per run
}

func (f *fakeChecks) Verify(_ context.Context, since map[string]time.Time) ([]reprovision.CheckOutcome, error) {
	var names []string
	var outcomes []reprovision.CheckOutcome
	for n, at := range since {
		if at.IsZero() {
			return nil, fmt.Errorf("%s: zero start time", n)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	f.runs = append(f.runs, names)
	for _, n := range names {
		outcomes = append(outcomes, reprovision.CheckOutcome{Check: "ready", Node: n, Status: "passed"})
	}
	if len(f.runs) == f.failAt {
		last := names[len(names)-1]
		outcomes[len(outcomes)-1].Status = "failed"
		return outcomes, fmt.Errorf(`check "ready" on %s failed after 3 attempts in 9s: no report`, last)
	}
	return outcomes, nil
}

// TestFleet runs fleets through real virtual BMCs and the boot service:
// all at once with one run of the checks, and rolling, stopping at the
// first machine or check that fails.
func TestFleet(t *testing.T) {
	type want struct {
		result reprovision.Outcome
		phase  reprovision.Phase
		err    string // in the verdict's error
	}
	passed := want{reprovision.Passed, reprovision.PhaseDone, ""}
	notRun := func(why string) want { return want{reprovision.NotRun, reprovision.PhaseQueued, why} }
	for _, tc := range []struct {
		name        string
		plan        reprovision.Plan
		badPassword []int
		failAt      int
		hooks       *recordingHooks
		want        []want
		runs        [][]string
		stopped     string
		calls       []string // the hooks' calls, in order
	}{
		{name: "all at once, one BMC refusing", plan: reprovision.Plan{Parallel: 2}, badPassword: []int{2},
			want: []want{passed, {reprovision.Failed, reprovision.PhaseBootDevice, "n2: set boot device pxe once"}, passed, passed},
			runs: [][]string{{"n1", "n3", "n5"}}},
		{name: "all at once, checks failing", plan: reprovision.Plan{}, failAt: 1,
			want: []want{{reprovision.Failed, reprovision.PhaseChecks, `the scenario's checks after it: check "ready" on n5 failed`}, {reprovision.Failed, reprovision.PhaseChecks, "n5"}, {reprovision.Failed, reprovision.PhaseChecks, "n5"}, {reprovision.Failed, reprovision.PhaseChecks, "n5"}},
			runs: [][]string{{"n1", "n2", "n3", "n5"}}},
		{name: "rolling, a check fails after the second", plan: reprovision.Plan{Rolling: true}, failAt: 2,
			want: []want{passed, {reprovision.Failed, reprovision.PhaseChecks, `check "ready" on n2 failed`}, notRun("rolling stopped after n2: check \"ready\" on n2"), notRun("rolling stopped after n2")},
			runs: [][]string{{"n1"}, {"n1", "n2"}}, stopped: `rolling stopped after n2: check "ready" on n2 failed`},
		{name: "rolling, a BMC refuses", plan: reprovision.Plan{Rolling: true}, badPassword: []int{2},
			want: []want{passed, {reprovision.Failed, reprovision.PhaseBootDevice, "n2: set boot device"}, notRun("rolling stopped at n2: n2: set boot device"), notRun("rolling stopped at n2")},
			runs: [][]string{{"n1"}}, stopped: "rolling stopped at n2: n2: set boot device pxe once"},
		{name: "rolling in batches of two", plan: reprovision.Plan{Rolling: true, Batch: 2},
			want: []want{passed, passed, passed, passed},
			runs: [][]string{{"n1", "n2"}, {"n1", "n2", "n3", "n5"}}},
		{name: "rolling with hooks", plan: reprovision.Plan{Rolling: true, Batch: 2}, hooks: &recordingHooks{},
			want:  []want{passed, passed, passed, passed},
			runs:  [][]string{{"n1", "n2"}, {"n1", "n2", "n3", "n5"}},
			calls: []string{"before n1 n2", "after n1 n2", "before n3 n5", "after n3 n5"}},
		{name: "rolling, a machine cannot leave", plan: reprovision.Plan{Rolling: true}, hooks: &recordingHooks{failBefore: "n2"},
			want:  []want{passed, {reprovision.Failed, reprovision.PhaseLeave, "before reprovisioning: n2 will not drain"}, notRun("rolling stopped at n2: before reprovisioning: n2 will not drain"), notRun("rolling stopped at n2")},
			runs:  [][]string{{"n1"}},
			calls: []string{"before n1", "after n1", "before n2"}, stopped: "rolling stopped at n2: before reprovisioning: n2 will not drain"},
		{name: "rolling, a machine cannot rejoin", plan: reprovision.Plan{Rolling: true}, hooks: &recordingHooks{failAfter: "n1"},
			want:  []want{{reprovision.Failed, reprovision.PhaseRejoin, "after it came back: n1 will not uncordon"}, notRun("rolling stopped after n1: n1 will not uncordon"), notRun("rolling stopped after n1"), notRun("rolling stopped after n1")},
			runs:  [][]string{{"n1"}},
			calls: []string{"before n1", "after n1"}, stopped: "rolling stopped after n1: n1 will not uncordon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			base := bootService(t)
			ms := rack(t, ctx, base, []int{1, 2, 3, 5}, tc.badPassword, nil)
			checks := &fakeChecks{failAt: tc.failAt}
			plan := tc.plan
			plan.Verify = checks
			if tc.hooks != nil {
				plan.Hooks = tc.hooks
			}
			rep := reprovision.Fleet(ctx, targetsOf(ms), &reprovision.FetchWaiter{Log: &bootlog.Client{URL: base}, Interval: 20 * time.Millisecond}, plan)
			for i, v := range rep.Verdicts {
				w := tc.want[i]
				if v.Machine != ms[i].name || v.Result != w.result || v.Phase != w.phase || !strings.Contains(v.Error, w.err) || (w.err == "") != (v.Error == "") {
					t.Errorf("verdict %d: %+v, want %s %s %s %q", i, v, ms[i].name, w.result, w.phase, w.err)
				}
				booted := len(ms[i].vm.Boots()) > 0
				if booted != (w.phase != reprovision.PhaseQueued && w.phase != reprovision.PhaseLeave && w.phase != reprovision.PhaseBootDevice) {
					t.Errorf("%s: boots %v after a verdict of %s at %s", ms[i].name, ms[i].vm.Boots(), v.Result, v.Phase)
				}
				if v.Result == reprovision.Passed && (len(v.Checks) == 0 || v.Checks[0].Node != v.Machine) {
					t.Errorf("%s: checks %+v, want its own node's", v.Machine, v.Checks)
				}
			}
			if fmt.Sprint(checks.runs) != fmt.Sprint(tc.runs) {
				t.Errorf("check runs after %v, want %v", checks.runs, tc.runs)
			}
			if !strings.HasPrefix(rep.Stopped, tc.stopped) || (tc.stopped == "") != (rep.Stopped == "") {
				t.Errorf("stopped %q, want %q", rep.Stopped, tc.stopped)
			}
			if tc.hooks != nil && fmt.Sprint(tc.hooks.calls) != fmt.Sprint(tc.calls) {
				t.Errorf("hook calls %q, want %q", tc.hooks.calls, tc.calls)
			}
			if len(rep.Checks) != len(tc.runs) {
				t.Errorf("%d check runs in the report, want %d", len(rep.Checks), len(tc.runs))
			}
			failed := slices.ContainsFunc(tc.want, func(w want) bool { return w.result != reprovision.Passed })
			if err := rep.Err(); (err != nil) != failed {
				t.Errorf("Err() = %v, want an error: %v", err, failed)
			}
		})
	}
}

// recordingHooks records each call and fails Before or After for the
// machine named, as a drain or uncordon that never succeeds would.
type recordingHooks struct {
	failBefore, failAfter string
	calls                 []string
}

func (h *recordingHooks) Before(_ context.Context, names []string) error {
	return h.call("before", names, h.failBefore, "will not drain")
}

func (h *recordingHooks) After(_ context.Context, names []string) error {
	return h.call("after", names, h.failAfter, "will not uncordon")
}

func (h *recordingHooks) call(what string, names []string, failing, why string) error {
	h.calls = append(h.calls, what+" "+strings.Join(names, " "))
	if slices.Contains(names, failing) {
		return fmt.Errorf("%s %s", failing, why)
	}
	return nil
}

// TestReportOutputs: the JSON a script reads and the JUnit CI reads.
func TestReportOutputs(t *testing.T) {
	rep := reprovision.Report{
		Verdicts: []reprovision.Verdict{
			{Machine: "n1", Result: reprovision.Passed, Phase: reprovision.PhaseDone, Duration: 1500 * time.Millisecond, Seconds: 1.5,
				Checks: []reprovision.CheckOutcome{{Check: "ready", Node: "n1", Status: "passed", Seconds: 0.5}}},
			{Machine: "n2", Result: reprovision.Failed, Phase: reprovision.PhaseBootDevice, Seconds: 2, Error: "n2: set boot device pxe once: ipmi 127.0.0.1:623: refused the credentials"},
			{Machine: "n3", Result: reprovision.NotRun, Phase: reprovision.PhaseQueued, Error: "not reprovisioned: rolling stopped at n2"},
		},
		Checks:  []reprovision.CheckRun{{After: []string{"n1"}, Outcomes: []reprovision.CheckOutcome{{Check: "ready", Node: "n1", Status: "passed"}, {Check: "ready", Node: "n2", Status: "failed", Reason: "no report"}}}},
		Stopped: "rolling stopped at n2",
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"machines":[{"machine":"n1","result":"passed","phase":"done","duration_seconds":1.5,"checks":[{"check":"ready","node":"n1","status":"passed","duration_seconds":0.5}]}`,
		`{"machine":"n2","result":"failed","phase":"boot-device","duration_seconds":2,"error":"n2: set boot device pxe once: ipmi 127.0.0.1:623: refused the credentials"}`,
		`{"machine":"n3","result":"not-run","phase":"queued","duration_seconds":0,"error":"not reprovisioned: rolling stopped at n2"}`,
		`"stopped":"rolling stopped at n2"`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("JSON lacks %s:\n%s", want, raw)
		}
	}
	if err := rep.Err(); err == nil || err.Error() != "reprovision: rolling stopped at n2" {
		t.Errorf("Err() = %v", err)
	}

	var buf bytes.Buffer
	if err := reprovision.WriteJUnit(&buf, "reprovision lab", rep); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Skipped  int    `xml:"skipped,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, buf.String())
	}
	if len(doc.Suites) != 2 {
		t.Fatalf("%d suites, want machines and one check run:\n%s", len(doc.Suites), buf.String())
	}
	m, c := doc.Suites[0], doc.Suites[1]
	if m.Name != "reprovision lab" || m.Tests != 3 || m.Failures != 1 || m.Skipped != 1 ||
		m.Cases[1].Name != "n2" || m.Cases[1].Failure == nil || m.Cases[1].Failure.Message != "failed at boot-device" || !strings.Contains(m.Cases[1].Failure.Body, "refused the credentials") {
		t.Errorf("machines suite %+v", m)
	}
	if c.Name != "reprovision lab checks after n1" || c.Tests != 2 || c.Failures != 1 || c.Cases[1].Name != "ready/n2" {
		t.Errorf("checks suite %+v", c)
	}
}
