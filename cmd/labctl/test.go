package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/shard"
)

// testFlags are test's flags: a lab's, and which scenarios, how many at once.
type testFlags struct {
	labFlags
	all              bool
	shard            string
	parallel         int
	artifacts, junit string
	netnsPrefix      string
	keep             bool
	list             bool
}

func newTestCmd(g *globals) *cobra.Command {
	var f testFlags
	cmd := &cobra.Command{
		Use:   "test SCENARIO... | --all",
		Short: "Bring labs up, wait for their scenarios' checks, collect artifacts, take them down",
		Long: `Bring labs up, wait for their scenarios' checks, collect artifacts, take them down.

Given one SCENARIO, its artifacts and JUnit report go to --artifacts
(default _artifacts/SCENARIO). Given several, or --all (the built-in
scenarios that need no image fetched from the internet), each one's go to
--artifacts DIR/SCENARIO (default _artifacts), with one JUnit file for the
whole run (--junit, default DIR/junit.xml) and a summary at the end.
--shard I/N runs share I of N (the same share for the same list, whatever
its order), so that N CI runners split a list between them.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.all && len(args) > 0 {
				return fmt.Errorf("--all: given with SCENARIO arguments (%s): give one or the other", strings.Join(args, " "))
			}
			if f.all {
				return nil
			}
			if len(args) == 0 {
				return scenarioArg(cmd, args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTests(cmd, g, &f, args)
		},
	}
	f.labFlags.add(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&f.all, "all", false, "every built-in scenario that needs no image fetched from the internet")
	fl.StringVar(&f.shard, "shard", "", "run share I of N of the scenarios (I/N, for example 2/4)")
	fl.IntVar(&f.parallel, "parallel", 1, "labs up at once, each in its own namespace (more than one needs a machine with cores and memory to spare)")
	fl.StringVar(&f.artifacts, "artifacts", "", "directory for logs, serial consoles and JUnit reports (default _artifacts/SCENARIO for one scenario, _artifacts for several)")
	fl.StringVar(&f.junit, "junit", "", "one JUnit file with every scenario (default DIR/junit.xml when running several)")
	fl.StringVar(&f.netnsPrefix, "netns-prefix", "labctl", "with several scenarios, each lab's namespace is PREFIX-SCENARIO")
	fl.BoolVar(&f.keep, "keep", false, "leave the labs up afterwards")
	fl.BoolVar(&f.list, "list", false, "print the scenarios the run would test, one a line, and exit (CI fetches the images its share needs)")
	return cmd
}

// runTests selects the scenarios, runs them through control's suite, and
// prints what happens and the summary.
func runTests(cmd *cobra.Command, g *globals, f *testFlags, args []string) error {
	several := f.all || len(args) > 1 || f.shard != ""
	if f.parallel < 1 {
		return fmt.Errorf("--parallel: %d: at least one lab at a time", f.parallel)
	}
	if several && f.netns != "" {
		return fmt.Errorf("--netns: names one lab's namespace and this run has several; --netns-prefix P gives each lab P-SCENARIO")
	}
	if several && f.fromSnapshot != "" {
		return fmt.Errorf("--from-snapshot: names one lab's snapshot and this run has several scenarios")
	}
	if err := netns.CheckName(f.netnsPrefix); err != nil {
		return fmt.Errorf("--netns-prefix: %w", err)
	}
	var sh shard.Shard
	if f.shard != "" {
		var err error
		if sh, err = shard.Parse(f.shard); err != nil {
			return fmt.Errorf("--shard: %w", err)
		}
	}
	out := &lineWriter{mu: new(sync.Mutex), w: cmd.OutOrStdout()}
	run := g.printer(out)
	sources := args
	if f.all {
		names, left, err := control.Offline()
		if err != nil {
			return err
		}
		for _, name := range sortedKeys(left) {
			if f.list {
				break
			}
			run.printf("left out: %s: %s\n", name, left[name])
		}
		sources = names
	}
	selected, err := shard.Select(sources, sh)
	if err != nil {
		return err
	}
	if f.list {
		for _, s := range selected {
			run.printf("%s\n", s)
		}
		return nil
	}
	if sh.Count > 0 {
		run.printf("shard %s: %d of %d scenarios: %s\n", sh, len(selected), len(sources), dash(strings.Join(selected, " ")))
	}
	artifacts := f.artifacts
	if several {
		artifacts = cmp.Or(artifacts, "_artifacts")
		f.junit = cmp.Or(f.junit, filepath.Join(artifacts, "junit.xml"))
	}
	ev := &suitePrinter{g: g, out: out, several: several, keep: f.keep, labs: map[string]*labPrinter{}}
	so := control.SuiteOptions{
		Up:       f.options(g, nil, ""),
		Sources:  selected,
		Parallel: f.parallel,
		Keep:     f.keep,
		Events:   ev,
		NetnsOf: func(name string) string {
			if several {
				return f.netnsPrefix + "-" + name
			}
			return f.netns
		},
		ArtifactsOf: func(name string) string {
			if several {
				return filepath.Join(artifacts, name)
			}
			return cmp.Or(artifacts, filepath.Join("_artifacts", name))
		},
	}
	// Refused input writes nothing, not even an artifacts directory.
	suite, err := control.PlanSuite(so)
	if err != nil {
		var exists *netns.ExistsError
		if several && errors.As(err, &exists) {
			return fmt.Errorf("%v: --netns-prefix gives each lab another", err)
		}
		return g.downFirst(err)
	}
	begin := time.Now()
	results := suite.Run(cmd.Context())
	if f.junit != "" {
		if err := os.MkdirAll(filepath.Dir(f.junit), 0o755); err != nil {
			return err
		}
		if err := control.WriteSuiteJUnit(f.junit, results); err != nil {
			return fmt.Errorf("write %s: %w", f.junit, err)
		}
	}
	if !several {
		if len(results) == 1 {
			r := results[0]
			return errors.Join(r.Err, r.Down)
		}
		return nil
	}
	return run.summary(sh, results, time.Since(begin), f.junit)
}

// suitePrinter renders a run through one printer per scenario: each
// scenario's lines go out whole, prefixed with its name when there are
// several (labs run in parallel interleave), and to the timeline in its
// artifacts.
type suitePrinter struct {
	g       *globals
	out     *lineWriter // the run's output; each lab's writer shares its lock
	several bool
	keep    bool
	mu      sync.Mutex
	labs    map[string]*labPrinter
}

// labPrinter is one scenario's printer, its writer and its timeline.
type labPrinter struct {
	*printer
	lines    *lineWriter
	timeline *os.File
}

func (s *suitePrinter) Reporter(name string) control.Reporter {
	lw := &lineWriter{mu: s.out.mu, w: s.out.w}
	p := s.g.printer(lw)
	if s.several {
		lw.prefix = "[" + name + "] "
		p.log = p.log.With("scenario", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.labs[name] = &labPrinter{printer: p, lines: lw}
	return p
}

func (s *suitePrinter) lab(name string) *labPrinter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.labs[name]
}

// Started makes the scenario's artifacts directory and its timeline: the
// run's output, kept with the artifacts.
func (s *suitePrinter) Started(name, dir string) {
	lp := s.lab(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		lp.printf("timeline: %v\n", err)
		return
	}
	f, err := os.Create(filepath.Join(dir, "timeline.txt"))
	if err != nil {
		lp.printf("timeline: %v\n", err)
		return
	}
	lp.mu.Lock()
	lp.timeline = f
	lp.out = io.MultiWriter(lp.lines, f)
	lp.mu.Unlock()
}

func (s *suitePrinter) Finished(r control.SuiteResult) {
	lp := s.lab(r.Scenario)
	lp.phases(r.Run.Phases)
	switch {
	case r.Collect != nil:
		lp.printf("collect artifacts: %v\n", r.Collect)
	case r.Lab != nil:
		lp.printf("artifacts and JUnit report in %s\n", r.Artifacts)
	}
	if s.keep && r.Lab != nil {
		lp.keptHint(r.Lab)
	}
	switch {
	case r.Err == nil && r.Lab != nil:
		lp.allPassed(r.Lab, r.Run.Results)
		if len(r.Run.Steps) > 0 {
			lp.stepsPassed(r.Lab.Scenario, r.Run.Steps)
		}
	case s.several && r.NotRun:
		lp.printf("%v\n", r.Err)
	case s.several && r.Err != nil:
		lp.printf("FAILED after %s: %v\n", r.Took.Round(100*time.Millisecond), r.Err)
	}
	if s.several && r.Down != nil {
		lp.printf("FAILED: %v\n", r.Down)
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	lp.lines.flush()
	if lp.timeline != nil {
		lp.timeline.Close()
		lp.out = lp.lines
	}
}

// summary ends a run of several: each scenario's outcome and time, and an
// error naming those that failed.
func (p *printer) summary(sh shard.Shard, results []control.SuiteResult, took time.Duration, junit string) error {
	var passed, notRun int
	var failed []string
	for _, r := range results {
		switch {
		case r.Passed():
			passed++
		case r.NotRun:
			notRun++
		default:
			failed = append(failed, r.Scenario)
		}
	}
	of := ""
	if sh.Count > 0 {
		of = " (shard " + sh.String() + ")"
	}
	p.printf("summary%s: %d scenarios: %d passed, %d failed, %d not run, %s\n", of, len(results), passed, len(failed), notRun, took.Round(time.Second))
	for _, r := range results {
		status, why := "passed", fmt.Sprintf("%d checks", r.Checks)
		if !r.Passed() {
			status = "FAILED"
			if r.NotRun {
				status = "not run"
			}
			why, _, _ = strings.Cut(errors.Join(r.Err, r.Down).Error(), "\n")
		}
		p.printf("  %-20s %-8s %7.1fs  %s\n", r.Scenario, status, r.Took.Seconds(), why)
	}
	if junit != "" {
		p.printf("JUnit report of the run: %s\n", junit)
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("%d of %d scenarios failed: %s", len(failed), len(results), strings.Join(failed, ", "))
	case notRun > 0:
		return fmt.Errorf("%d of %d scenarios not run: interrupted", notRun, len(results))
	}
	return nil
}

// lineWriter writes whole lines only, each with its prefix, under a lock
// that every scenario's writer shares: lines of labs that run at once
// interleave, never their characters.
type lineWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.mu.Lock()
		_, err := fmt.Fprintf(l.w, "%s%s", l.prefix, l.buf[:i+1])
		l.mu.Unlock()
		l.buf = l.buf[i+1:]
		if err != nil {
			return len(b), err
		}
	}
}

// flush writes a line left unfinished.
func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		l.Write([]byte("\n"))
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
