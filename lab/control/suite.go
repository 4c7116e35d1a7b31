package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/images/registry"
	"github.com/labctl/labctl/internal/junit"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/scenario"
)

// Offline lists the built-in scenarios a run can test with nothing fetched
// from the internet, sorted, and why each other one is left out (an image
// that only `labctl images fetch` brings, no checks to run, or steps that
// run on the lab of their base).
func Offline() (names []string, left map[string]string, err error) {
	left = map[string]string{}
	published := registry.Published()
	for _, name := range scenario.Names() {
		sc, err := scenario.Find(name)
		if err != nil {
			return nil, nil, err
		}
		if sc.Base != "" { // its base's lab would be brought up twice
			left[name] = fmt.Sprintf("steps on a lab of %s (labctl verify %[1]s --steps-from %s)", sc.Base, name)
			continue
		}
		if len(sc.Checks) == 0 {
			left[name] = "has no checks to test (a lab to work on, such as a simulated rack)"
			continue
		}
		var fetched []string
		for _, img := range sc.ImageNames() {
			if slices.Contains(published, img) {
				fetched = append(fetched, img)
			}
		}
		if len(fetched) > 0 {
			left[name] = fmt.Sprintf("needs %s, which labctl images fetch brings", strings.Join(fetched, " and "))
			continue
		}
		names = append(names, name)
	}
	return names, left, nil
}

// SuiteOptions say which scenarios one test run brings up, and how.
type SuiteOptions struct {
	Up      UpOptions // what every lab shares; Source, Netns and Report are set per lab
	Sources []string  // scenario names or directories, in the order to run them
	// NetnsOf is the namespace of a scenario's lab; nil or "": labctl-SCENARIO.
	NetnsOf func(scenario string) string
	// ArtifactsOf is where a scenario's logs and JUnit report go.
	ArtifactsOf func(scenario string) string
	Parallel    int  // labs up at once; below 1: one
	Keep        bool // leave each lab up after its checks
	Events      SuiteEvents
}

// SuiteEvents is told what a run does, as it happens; the CLI renders it.
// Its methods may be called from several goroutines at once.
type SuiteEvents interface {
	// Reporter is the reporter of one scenario's lab, asked once per
	// scenario before any lab is made.
	Reporter(scenario string) Reporter
	// Started: the scenario's lab is about to be made; its artifacts go to dir.
	Started(scenario, dir string)
	// Finished: the scenario's run is over, its lab down unless kept.
	Finished(r SuiteResult)
}

// SuiteResult is what became of one scenario.
type SuiteResult struct {
	Scenario  string
	Artifacts string
	Took      time.Duration
	Checks    int         // the scenario's checks
	Run       Convergence // empty if the lab did not come up
	Lab       *Lab        // nil if the lab did not come up
	Err       error       // nil: every check passed
	NotRun    bool        // the run was interrupted before this scenario started
	Collect   error       // copying the artifacts failed
	Down      error       // taking the lab down failed
}

// Passed reports whether every check passed and the lab was taken down (or kept).
func (r SuiteResult) Passed() bool { return r.Err == nil && r.Down == nil && !r.NotRun }

// Suite is a test run whose every lab Check accepted.
type Suite struct {
	plans []*Plan
	o     SuiteOptions
}

// PlanSuite checks every scenario of o (see Check) before any lab is made:
// a refusal of one changes nothing. Two sources of one scenario name are
// refused, since their labs would share a state directory.
func PlanSuite(o SuiteOptions) (*Suite, error) {
	s := &Suite{o: o}
	bySource := map[string]string{} // scenario name → the source that gave it
	for _, src := range o.Sources {
		sc, err := scenario.Find(src)
		if err != nil {
			return nil, err
		}
		if first, ok := bySource[sc.Name]; ok {
			return nil, fmt.Errorf("%s and %s are both scenario %s: two labs of one name cannot be up at once", first, src, sc.Name)
		}
		bySource[sc.Name] = src
		uo := o.Up
		uo.Source = src
		uo.Netns = ""
		if o.NetnsOf != nil {
			uo.Netns = o.NetnsOf(sc.Name)
		}
		uo.Report = o.Events.Reporter(sc.Name)
		p, err := Check(uo)
		if err != nil {
			if len(o.Sources) > 1 {
				err = fmt.Errorf("scenario %s: %w", sc.Name, err)
			}
			return nil, err
		}
		s.plans = append(s.plans, p)
	}
	return s, nil
}

// Scenarios are the names of the suite's scenarios, in the order they run.
func (s *Suite) Scenarios() []string {
	names := make([]string, len(s.plans))
	for i, p := range s.plans {
		names[i] = p.Scenario.Name
	}
	return names
}

// Run brings up, checks, collects and takes down each scenario's lab, up to
// Parallel at once, each in its own namespace, and returns each one's result
// in the suite's order. Once ctx is done, scenarios not started are not run
// and every lab started is still collected and taken down.
func (s *Suite) Run(ctx context.Context) []SuiteResult {
	results := make([]SuiteResult, len(s.plans))
	slots := make(chan struct{}, max(s.o.Parallel, 1))
	var wg sync.WaitGroup
	for i, p := range s.plans {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			results[i] = SuiteResult{Scenario: p.Scenario.Name, Checks: len(p.Scenario.Checks), NotRun: true,
				Err: fmt.Errorf("not run: %w", context.Cause(ctx))}
			s.o.Events.Finished(results[i])
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			results[i] = s.runOne(ctx, p)
			s.o.Events.Finished(results[i])
		}()
	}
	wg.Wait()
	return results
}

func (s *Suite) runOne(ctx context.Context, p *Plan) (r SuiteResult) {
	name := p.Scenario.Name
	r = SuiteResult{Scenario: name, Artifacts: s.o.ArtifactsOf(name), Checks: len(p.Scenario.Checks)}
	begin := time.Now()
	defer func() { r.Took = time.Since(begin) }() // r is named: the deferred write is returned
	s.o.Events.Started(name, r.Artifacts)
	l, err := p.Up(ctx) // takes down what it made if it fails
	if err != nil {
		r.Err = err
		return r
	}
	r.Lab = l
	r.Run, r.Err = l.Converge(ctx)
	if r.Err == nil && len(l.Scenario.Steps) > 0 {
		r.Run.Steps, r.Err = l.RunSteps(ctx, l.Scenario)
	}
	ctx = context.WithoutCancel(ctx) // collect and take down also when interrupted
	r.Collect = l.Collect(ctx, r.Artifacts, r.Run)
	if !s.o.Keep {
		if err := l.Down(ctx); err != nil {
			r.Down = fmt.Errorf("down %s: %w", name, err)
		}
	}
	return r
}

// WriteSuiteJUnit writes one JUnit file with a test suite per scenario:
// its checks as test cases, and a failed (or, if it never started, a
// skipped) case "lab" carrying the error no check result records, such as
// a lab that did not come up.
func WriteSuiteJUnit(path string, results []SuiteResult) error {
	var suites []junit.Suite
	for _, r := range results {
		cases := append(check.JUnitCases(r.Scenario, r.Run.Results), StepCases(r.Scenario, r.Run.Steps)...)
		failed := slices.ContainsFunc(cases, func(c junit.Case) bool { return c.Failure != nil })
		switch err := errors.Join(r.Err, r.Down); {
		case r.NotRun:
			cases = append(cases, junit.Case{Name: "lab", Classname: r.Scenario, Skipped: &junit.Message{Message: r.Err.Error()}})
		case err != nil && (!failed || r.Down != nil):
			first, _, _ := strings.Cut(err.Error(), "\n")
			cases = append(cases, junit.Case{Name: "lab", Classname: r.Scenario, Time: r.Took, Failure: &junit.Message{Message: first, Body: err.Error()}})
		}
		suites = append(suites, junit.Suite{Name: r.Scenario, Cases: cases})
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = junit.Write(f, suites...)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
