package dashboard

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/lab/eventlog"
)

// A recorded event log's fault steps are drawn on the timeline of the
// machines their faults act on (every machine for one that names none),
// with a mark per phase, said in the timeline's text alternative, and
// listed with their start, phases, recovery time and verdict, on the lab
// page and in the report alike. A step is drawn from the log's fields
// alone: a phase or fault kind the dashboard never heard of shows too.
func TestFaultSteps(t *testing.T) {
	root := t.TempDir()
	st, w := newLab(t, root, 3)
	for _, e := range []eventlog.Entry{
		{At: 20 * time.Second, Kind: eventlog.KindStep, Name: "isolate-node3", Status: "injected", Text: "partition node3", Machines: []string{"node3"}},
		{At: 24 * time.Second, Machine: "node1", Kind: eventlog.KindCheck, Name: "isolate-node3/quorum", Status: eventlog.StatusPassed, Step: "isolate-node3"},
		{At: 24 * time.Second, Kind: eventlog.KindStep, Name: "isolate-node3", Status: "held", Took: 4 * time.Second},
		{At: 26 * time.Second, Kind: eventlog.KindStep, Name: "isolate-node3", Status: "healed", Took: 6 * time.Second},
		{At: 33500 * time.Millisecond, Kind: eventlog.KindStep, Name: "isolate-node3", Status: "recovered", Took: 7500 * time.Millisecond},
		{At: 35 * time.Second, Kind: eventlog.KindStep, Name: "freeze-node2", Status: "injected", Text: "pause node2", Machines: []string{"node2"}},
		{At: 40 * time.Second, Kind: eventlog.KindStep, Name: "freeze-node2", Status: "failed", Text: "pause node2", Reason: "not recovered within 3m0s of healing: check quorum on node1: no leader"},
		{At: 41 * time.Second, Kind: eventlog.KindStep, Name: "flood", Status: "saturated", Text: "dhcp-flood"},
		// A fault by hand (labctl fault), under its id.
		{At: 36 * time.Second, Kind: eventlog.KindStep, ByHand: true, Name: "link-down-node2", Status: "injected", Text: "link-down node2", Machines: []string{"node2"}},
		{At: 39 * time.Second, Kind: eventlog.KindStep, ByHand: true, Name: "link-down-node2", Status: "healed", Text: "link-down node2", Machines: []string{"node2"}, Took: 3 * time.Second},
	} {
		e.Time = time.Unix(0, 0).Add(e.At).UTC()
		if err := w.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	v, err := Read(context.Background(), st.Lab.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var report bytes.Buffer
	if err := WriteReport(&report, v); err != nil {
		t.Fatal(err)
	}
	page := get(t, (&Server{Root: root}).Handler(), "/labs/demo", nil).Body.String()
	for name, body := range map[string]string{"lab page": page, "report": report.String()} {
		t.Run(name, func(t *testing.T) {
			for _, want := range []string{
				// On the timeline of node3 only, in its text alternative too.
				`aria-label="node3: dhcp 0.0 to 3.0 s; ipxe 3.0 to 5.0 s; checks 5.0 to 11.0 s; check booted passed at 11.0 s; step isolate-node3 (fault partition node3): injected at 20.0 s, held at 24.0 s (4.0 s), healed at 26.0 s (6.0 s), recovered at 33.5 s (7.5 s), recovered; step flood (fault dhcp-flood): saturated at 41.0 s, running (saturated); "`,
				`<div class="band" style="left:48.78%;width:32.93%" title="step isolate-node3 (fault partition node3): recovered">isolate-node3</div>`,
				`<div class="mark step" style="left:81.71%" title="step isolate-node3: recovered at 33.5 s"></div>`,
				`<div class="band failed" style="left:85.37%;width:12.20%" title="step freeze-node2 (fault pause node2): failed">freeze-node2</div>`,
				// The table, in text.
				`<tr class="step" data-step="isolate-node3"><th scope="row">isolate-node3</th><td>partition node3</td><td>node3</td><td>20.0</td><td>injected 20.0, held 24.0 (took 4.0), healed 26.0 (took 6.0), recovered 33.5 (took 7.5)</td><td>7.5</td><td class="recovered">recovered</td></tr>`,
				`<td class="failed">failed<pre>not recovered within 3m0s of healing: check quorum on node1: no leader</pre></td>`,
				`<td>dhcp-flood</td><td>the whole lab</td><td>41.0</td><td>saturated 41.0</td><td>—</td><td class="saturated">running (saturated)</td>`,
				// A fault by hand: its own band and row, healed.
				`title="fault link-down-node2 by hand (link-down node2): healed">link-down-node2</div>`,
				`<tr class="step" data-step="link-down-node2"><th scope="row">link-down-node2 (by hand)</th><td>link-down node2</td><td>node2</td><td>36.0</td><td>injected 36.0, healed 39.0 (took 3.0)</td><td>—</td><td class="healed">healed</td></tr>`,
				// The step's check among the checks, as a mark on node1.
				`data-check="isolate-node3/quorum"`, `title="check isolate-node3/quorum passed at 24.0 s"`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("lacks %s", want)
				}
			}
			if strings.Contains(body[:strings.Index(body, `aria-label="node3`)], "isolate-node3 (fault") {
				t.Errorf("step isolate-node3 is drawn on a machine its fault did not act on")
			}
		})
	}
	// The step's check ends no boot phase: node1's checks phase is its boot's.
	if s := v.Machines[0].Spans; s[len(s)-1].Name != "checks" || s[len(s)-1].End != 9*time.Second {
		t.Errorf("node1's phases %+v: the step's check moved the end of its checks phase", s)
	}
	if v.Machines[0].LastEvent != "ipxe script /ipxe (200)" {
		t.Errorf("node1's last boot-service event %q", v.Machines[0].LastEvent)
	}
}
