package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/internal/tail"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/eventlog"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/sshkeys"
	"github.com/labctl/labctl/lab/state"
)

// Convergence is what one Converge saw.
type Convergence struct {
	Results []check.Result
	Phases  progress.Summary // where each machine's time went, up to its last check
	Steps   []StepResult     // the scenario's steps, when they ran (RunSteps)
}

// Converge runs the scenario's checks until all pass, a machine or the lab
// process fails (at once, with the log that shows why), or the scenario's
// deadline passes, telling the reporter each machine's steps and each
// check's result as they come. It returns the phases seen also when it
// fails; its error names the scenario.
func (lb *Lab) Converge(ctx context.Context) (Convergence, error) {
	st, sc := lb.State, lb.Scenario
	ctx, cancel := context.WithTimeout(ctx, time.Duration(sc.Deadline))
	defer cancel()
	r, err := Runner(st, sc)
	if err != nil {
		return Convergence{}, err
	}
	events, err := eventlog.Create(st.Lab.EventLog())
	if err != nil {
		return Convergence{}, err
	}
	defer events.Close() // after the watcher has stopped (deferred below)
	rep := logged{Reporter: lb.report, log: events}
	var timeline progress.Timeline
	clock, failed, stopped := watch(ctx, rep, st, &timeline, lb.history)
	// Nothing is reported once Converge has returned.
	defer func() { cancel(); <-stopped }()
	var failure error
	r.Alive = func(context.Context) error {
		select {
		case err := <-failed:
			failure = err
		default:
		}
		return failure
	}
	r.Progress = func(res check.Result) {
		if res.Status != check.Passed && res.Status != check.Failed {
			return
		}
		at := clock()
		rep.CheckResult(at, res)
		if res.Status == check.Passed {
			timeline.Add(progress.Step{Machine: res.Node, At: at, Kind: progress.KindCheck, Name: res.Check})
		}
	}
	results, err := r.Run(ctx)
	if err != nil {
		err = fmt.Errorf("scenario %s: %w", sc.Name, withSerialTail(err, st.Lab, results))
	}
	return Convergence{Results: results, Phases: timeline.Summary()}, err
}

// withSerialTail adds to a failed run the end of the failing machine's
// serial console: a machine that never came back (hung in firmware, boot
// loader or kernel) says where only there, and CI keeps no lab to look at.
// A machine that died already failed the run with its log.
func withSerialTail(err error, l *lab.Lab, results []check.Result) error {
	for _, res := range results {
		if res.Status != check.Failed {
			continue
		}
		serial := l.MachineFiles(res.Node).SerialLog
		if strings.Contains(err.Error(), serial) {
			return err
		}
		return fmt.Errorf("%w\n%s", err, tail.Serial(serial, 25))
	}
	return err
}

// Runner makes a check runner for a lab that is up: SSH and the boot
// service's machine log, both reached inside the lab's namespace.
func Runner(st *state.State, sc *scenario.Scenario) (*check.Runner, error) {
	l := st.Lab
	keys, err := sshkeys.ForLab(l)
	if err != nil {
		return nil, err
	}
	return &check.Runner{
		Lab:      l,
		Checks:   sc.Checks,
		Deadline: time.Duration(sc.Deadline),
		Shell:    &check.SSH{Keys: keys, Dial: netns.Dialer(l.Netns)},
		BootLog:  progress.BootLog(l),
	}, nil
}

// watch reports the lab's progress until ctx ends and adds each step to
// timeline. The first failure it sees (a machine's firmware gave up, a VM
// died, the lab process failed) is sent on the returned channel, once. The
// clock it returns is the steps' clock; stopped closes when it has stopped.
// With history, what the lab's logs hold already is read first and not
// reported.
func watch(ctx context.Context, rep Reporter, st *state.State, timeline *progress.Timeline, history bool) (clock func() time.Duration, failed <-chan error, stopped <-chan struct{}) {
	start := time.Now()
	unwatched := func() time.Duration { return time.Since(start) }
	fail := make(chan error, 1)
	done := make(chan struct{})
	prov, err := Provider(st)
	if err != nil {
		fail <- err
		close(done)
		return unwatched, fail, done
	}
	power, ok := prov.(lab.PowerDriver)
	if !ok {
		fail <- fmt.Errorf("provider %s cannot report power state", st.Provider)
		close(done)
		return unwatched, fail, done
	}
	w := progress.NewWatcher(st.Lab, power)
	if history {
		w.Poll(ctx)
	}
	var once sync.Once
	go func() {
		defer close(done)
		accelShown := false
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			snap := w.Poll(ctx)
			if !accelShown {
				if s, err := state.Load(st.Lab.Dir); err == nil && s.Accel != "" {
					rep.Accelerator(s.Accel)
					accelShown = true
				}
			}
			show(rep, timeline, snap.Steps)
			if len(snap.Failures) > 0 && ctx.Err() == nil {
				once.Do(func() { fail <- errors.Join(snap.Failures...) })
			}
			select {
			case <-ctx.Done():
				finalPoll(ctx, w, rep, timeline)
				return
			case <-tick.C:
			}
		}
	}()
	return w.Elapsed, fail, done
}

// finalPoll reports the steps made since the last poll once the checks
// have ended: a check that passed on a report the watcher had not yet read
// (read up to 250 ms apart) would otherwise leave that report unshown.
// Failures are not sent: the run is over.
func finalPoll(ctx context.Context, w *progress.Watcher, rep Reporter, timeline *progress.Timeline) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	show(rep, timeline, w.Poll(ctx).Steps)
}

// show tells the reporter a poll's steps and adds them to the timeline.
func show(rep Reporter, timeline *progress.Timeline, steps []progress.Step) {
	for _, s := range steps {
		rep.MachineStep(s)
	}
	timeline.Add(steps...)
}
