package control

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/progress"
)

// TestOptions add to UpOptions what a test run needs.
type TestOptions struct {
	UpOptions
	Artifacts string // logs, the machine log and JUnit; empty: _artifacts/<scenario>
	Keep      bool   // leave the lab up afterwards
	Command   string // labctl as the user runs it, for the commands --keep suggests; empty: labctl
	Errors    io.Writer
}

// Test brings a lab up, waits for its scenario's checks, collects its
// artifacts (also when interrupted) and takes it down unless told to keep
// it. Its progress lines are also the run's timeline, kept with the
// artifacts, and end with the phases' summary, which it also returns (empty
// if the lab never came up) for the caller to show.
func Test(ctx context.Context, o TestOptions) (progress.Summary, error) {
	// Refused input writes nothing, not even an artifacts directory.
	sc, st, accel, err := validate(o.UpOptions)
	if err != nil {
		return progress.Summary{}, err
	}
	if o.Artifacts == "" {
		o.Artifacts = filepath.Join("_artifacts", sc.Name)
	}
	if err := os.MkdirAll(o.Artifacts, 0o755); err != nil {
		return progress.Summary{}, err
	}
	timeline, err := os.Create(filepath.Join(o.Artifacts, "timeline.txt"))
	if err != nil {
		return progress.Summary{}, err
	}
	defer timeline.Close()
	out := io.MultiWriter(o.Out, timeline)
	o.Out = out
	if st, err = up(ctx, o.UpOptions, sc, st, accel); err != nil {
		return progress.Summary{}, err
	}
	run, runErr := Converge(ctx, out, st, sc)
	if line := run.Phases.String(); line != "" {
		fmt.Fprintln(timeline, line)
	}
	results := run.Results
	ctx = context.WithoutCancel(ctx)
	if err := Collect(ctx, st, o.Artifacts, results); err != nil {
		fmt.Fprintf(o.Errors, "collect artifacts: %v\n", err)
	} else {
		fmt.Fprintf(out, "artifacts and JUnit report in %s\n", o.Artifacts)
	}
	name := st.Lab.Name
	if o.Keep {
		cmd := o.Command
		if cmd == "" {
			cmd = "labctl"
		}
		fmt.Fprintf(out, "lab %s kept up (--keep): %s ssh %[1]s NODE, %[2]s down %[1]s\n", name, cmd)
	} else if err := Down(ctx, st.Lab.Dir, nil); err != nil {
		return run.Phases, fmt.Errorf("down %s: %w", name, err)
	}
	if runErr != nil {
		return run.Phases, fmt.Errorf("scenario %s: %w", sc.Name, runErr)
	}
	fmt.Fprintln(out, check.AllPassed(sc.Name, len(sc.Checks), results))
	return run.Phases, nil
}
