package control

import (
	"context"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/check"
)

// --all runs what needs nothing fetched and has checks: the scenarios on
// published images and the simulated rack are left out, each with the reason.
func TestOffline(t *testing.T) {
	names, left, err := Offline()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pxe-smoke", "etcd3", "etcd3-install", "etcd-large", "k8s", "k8s-install"} {
		if !slices.Contains(names, want) {
			t.Errorf("Offline() lacks %s: %v", want, names)
		}
	}
	for name, why := range map[string]string{
		"flatcar-etcd3": "needs flatcar, which labctl images fetch brings",
		"fcos-etcd3":    "needs fcos, which labctl images fetch brings",
		"rack-sim":      "has no checks to test (a lab to work on, such as a simulated rack)",
	} {
		if slices.Contains(names, name) {
			t.Errorf("Offline() holds %s: %s", name, why)
		}
		if left[name] != why {
			t.Errorf("left[%s] = %q, want %q", name, left[name], why)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("Offline() = %v, not sorted", names)
	}
}

// One file, a suite per scenario: checks as cases, and a case "lab" for
// what no check records (a lab that did not come up, a run interrupted
// before the scenario started, a lab that would not go down).
func TestWriteSuiteJUnit(t *testing.T) {
	passed := check.Result{Check: "booted", Node: "m1", Status: check.Passed, Duration: time.Second}
	failed := check.Result{Check: "booted", Node: "m1", Status: check.Failed, Reason: "no marker"}
	results := []SuiteResult{
		{Scenario: "ok", Run: Convergence{Results: []check.Result{passed}}},
		{Scenario: "check-failed", Run: Convergence{Results: []check.Result{failed}}, Err: errors.New(`check "booted" on m1 failed`)},
		{Scenario: "never-up", Err: errors.New("image labos: build failed\nthe log's tail")},
		{Scenario: "not-run", NotRun: true, Err: errors.New("not run: context canceled")},
		{Scenario: "stuck", Run: Convergence{Results: []check.Result{passed}}, Down: errors.New("down stuck: namespace busy")},
	}
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := WriteSuiteJUnit(path, results); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
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
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	type counts struct {
		name                     string
		tests, failures, skipped int
		cases                    []string
	}
	want := []counts{
		{"ok", 1, 0, 0, []string{"booted/m1"}},
		{"check-failed", 1, 1, 0, []string{"booted/m1"}}, // the check's own failure says it all
		{"never-up", 1, 1, 0, []string{"lab"}},
		{"not-run", 1, 0, 1, []string{"lab"}},
		{"stuck", 2, 1, 0, []string{"booted/m1", "lab"}},
	}
	if len(doc.Suites) != len(want) {
		t.Fatalf("%d suites, want %d:\n%s", len(doc.Suites), len(want), raw)
	}
	for i, s := range doc.Suites {
		got := counts{s.Name, s.Tests, s.Failures, s.Skipped, nil}
		for _, c := range s.Cases {
			got.cases = append(got.cases, c.Name)
		}
		if got.name != want[i].name || got.tests != want[i].tests || got.failures != want[i].failures || got.skipped != want[i].skipped || !slices.Equal(got.cases, want[i].cases) {
			t.Errorf("suite %d = %+v, want %+v", i, got, want[i])
		}
	}
	if msg := doc.Suites[2].Cases[0].Failure.Message; msg != "image labos: build failed" {
		t.Errorf("never-up's failure message = %q, want the error's first line", msg)
	}
}

// suiteEvents records what a suite tells, as the CLI would render it.
type suiteEvents struct {
	mu       sync.Mutex
	started  []string
	finished []SuiteResult
}

func (e *suiteEvents) Reporter(string) Reporter { return nil }
func (e *suiteEvents) Started(name, _ string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started = append(e.started, name)
}
func (e *suiteEvents) Finished(r SuiteResult) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.finished = append(e.finished, r)
}

// A run interrupted before it starts makes nothing: every scenario is
// reported not run, in order, and its state root stays empty.
func TestSuiteInterruptedMakesNothing(t *testing.T) {
	testenv.Root(t, "Check refuses to plan a lab for anyone but root")
	root := t.TempDir()
	var ev suiteEvents
	s, err := PlanSuite(SuiteOptions{
		Up:          UpOptions{Provider: "qemu", StateRoot: root, CacheDir: t.TempDir(), Self: "/nonexistent/labctl"},
		Sources:     []string{"etcd3", "pxe-smoke"},
		NetnsOf:     func(name string) string { return "lt-suite-" + name },
		ArtifactsOf: func(name string) string { return filepath.Join(root, "artifacts", name) },
		Parallel:    2,
		Events:      &ev,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Scenarios(); !slices.Equal(got, []string{"etcd3", "pxe-smoke"}) {
		t.Errorf("Scenarios() = %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	results := s.Run(ctx)
	if len(ev.started) > 0 {
		t.Errorf("started %v after the run was cancelled", ev.started)
	}
	for i, name := range []string{"etcd3", "pxe-smoke"} {
		r := results[i]
		if r.Scenario != name || !r.NotRun || r.Passed() || r.Err == nil || r.Err.Error() != "not run: context canceled" {
			t.Errorf("result %d = %+v, want %s not run: context canceled", i, r, name)
		}
	}
	if len(ev.finished) != 2 {
		t.Errorf("Finished told %d times, want 2", len(ev.finished))
	}
	if entries, _ := os.ReadDir(root); len(entries) > 0 {
		t.Errorf("state root holds %v after a run that never started", entries)
	}
}
