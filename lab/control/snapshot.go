package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/filecopy"
	"github.com/labctl/labctl/internal/tail"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/snapshot"
	"github.com/labctl/labctl/lab/sshkeys"
	"github.com/labctl/labctl/lab/state"
)

// SaveOptions say which lab to save, under which name.
type SaveOptions struct {
	StateRoot string
	Lab       string // a SCENARIO argument
	Name      string // the snapshot's
	Stop      bool   // take the lab down once saved, instead of resuming it
	Report    Reporter
}

// Save saves the running lab o.Lab as the snapshot o.Name (see package
// snapshot): its machines paused together, each saved by its provider, the
// lab's own files copied while they are paused, then resumed together (or,
// with o.Stop, the lab taken down). The snapshot is published whole at the
// end; a failure or a crash before leaves none.
func Save(ctx context.Context, o SaveOptions) (*snapshot.Manifest, error) {
	if err := RequireRoot("save a lab"); err != nil {
		return nil, err
	}
	if err := snapshot.CheckName(o.Name); err != nil {
		return nil, err
	}
	st, err := Load(o.StateRoot, o.Lab)
	if err != nil {
		return nil, err
	}
	l := st.Lab
	if st.Phase != state.Running || !proc.Runs(st.Pids["labd"], DaemonCommand, l.Dir) {
		return nil, fmt.Errorf("lab %s is %s, its lab process not running: only a running lab is saved", l.Name, st.Phase)
	}
	prov, err := Provider(st)
	if err != nil {
		return nil, err
	}
	snap, ok := prov.(lab.Snapshotter)
	if !ok {
		return nil, fmt.Errorf("lab %s: provider %s cannot save snapshots (the qemu and libvirt providers can)", l.Name, st.Provider)
	}
	m := &snapshot.Manifest{Name: o.Name, SaveTime: map[string]images.Duration{}}
	for name, dir := range st.Images {
		img, err := snapshot.IdentifyImage(name, dir)
		if err != nil {
			return nil, fmt.Errorf("lab %s: %w", l.Name, err)
		}
		m.Images = append(m.Images, img)
	}
	if len(m.Images) != len(st.Images) || len(st.Images) == 0 {
		return nil, fmt.Errorf("lab %s records no images (brought up by an older labctl): it cannot be saved", l.Name)
	}
	root := snapshot.Root(o.StateRoot)
	snapshot.Sweep(root)
	tmp, err := snapshot.Begin(root, o.Name)
	if err != nil {
		return nil, err
	}
	published := false
	defer func() {
		if !published {
			os.RemoveAll(tmp)
		}
	}()
	// Paused together: the cluster is captured at one instant.
	var paused []string
	resume := func() error {
		var errs []error
		for _, name := range paused {
			errs = append(errs, snap.Resume(ctx, l, name))
		}
		paused = nil
		return errors.Join(errs...)
	}
	defer resume()
	for _, mc := range l.Machines {
		if err := snap.Pause(ctx, l, mc.Name); err != nil {
			return nil, err
		}
		paused = append(paused, mc.Name)
	}
	if err := snapshot.CopyLabFiles(l.Dir, filepath.Join(tmp, snapshot.LabDir)); err != nil {
		return nil, fmt.Errorf("lab %s: copy its files: %w", l.Name, err)
	}
	// The machine log lives in the boot service's memory: what the
	// machines reported (ready, installed) is what report checks read.
	records, err := progress.BootLog(l).Records(ctx)
	if err != nil {
		return nil, fmt.Errorf("lab %s: read the boot service's machine log: %w", l.Name, err)
	}
	raw, err := json.Marshal(records)
	if err != nil {
		return nil, err
	}
	saved := &lab.Lab{Dir: filepath.Join(tmp, snapshot.LabDir)}
	if err := os.WriteFile(saved.MachineLog(), raw, 0o644); err != nil {
		return nil, err
	}
	for _, mc := range l.Machines {
		dir := snapshot.MachineDir(tmp, mc.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		begin := time.Now()
		if err := snap.SaveMachine(ctx, l, mc.Name, dir); err != nil {
			return nil, fmt.Errorf("lab %s: %w", l.Name, err)
		}
		m.SaveTime[mc.Name] = images.Duration(time.Since(begin).Round(time.Millisecond))
	}
	was := *st
	was.Pids, was.Exits, was.Phase, was.Error, was.Restore = nil, nil, state.Running, "", ""
	m.State = &was
	m.Created = time.Now().UTC()
	if err := snapshot.Commit(root, tmp, m); err != nil {
		return nil, err
	}
	published = true
	if o.Stop {
		paused = nil // down stops them; resuming first would only let them run on
		return m, Down(ctx, l.Dir, o.Report)
	}
	return m, resume()
}

// Snapshots lists the snapshots of the labs under stateRoot, first
// sweeping what saves that crashed left (hard links to their labs' disks).
func Snapshots(stateRoot string) ([]snapshot.Summary, error) {
	snapshot.Sweep(snapshot.Root(stateRoot))
	return snapshot.List(snapshot.Root(stateRoot))
}

// RemoveSnapshot removes the snapshot called name; labs restored from it
// are not touched.
func RemoveSnapshot(stateRoot, name string) error {
	if err := RequireRoot("remove a snapshot"); err != nil {
		return err
	}
	return snapshot.Remove(snapshot.Root(stateRoot), name)
}

// checkRestore validates `up --from-snapshot` against the snapshot: its
// lab is the scenario's, its images are still the ones it was saved with,
// and the provider, accelerator and namespace asked for (if any) are the
// ones it was saved with, which a restored lab keeps. It returns the state
// the restored lab starts from.
func checkRestore(o *UpOptions, scenarioName string) (*snapshot.Manifest, error) {
	root := snapshot.Root(o.StateRoot)
	m, err := snapshot.Load(root, o.FromSnapshot)
	if err != nil {
		return nil, err
	}
	saved := m.State
	if m.Lab() != scenarioName {
		return nil, fmt.Errorf("snapshot %s is of lab %s, not %s", m.Name, m.Lab(), scenarioName)
	}
	for _, c := range []struct{ flag, asked, saved string }{
		{"--provider", o.Provider, saved.Provider}, {"--accel", o.Accel, saved.Accel}, {"--netns", o.Netns, saved.Lab.Netns},
	} {
		if c.asked != "" && c.asked != c.saved {
			return nil, fmt.Errorf("%s %s: snapshot %s was saved with %s, which a restored lab keeps", c.flag, c.asked, m.Name, c.saved)
		}
	}
	for _, img := range m.Images {
		if err := img.Check(); err != nil {
			return nil, fmt.Errorf("snapshot %s cannot be restored: %w", m.Name, err)
		}
	}
	o.Provider, o.Accel, o.Netns = saved.Provider, saved.Accel, saved.Lab.Netns
	return m, nil
}

// restoredState is the state a lab restored from m starts with in dir.
func restoredState(m *snapshot.Manifest, root, dir string) *state.State {
	l := *m.State.Lab
	l.Dir = dir
	st := &state.State{Source: m.State.Source, Lab: &l, Provider: m.State.Provider, Accel: m.State.Accel,
		Phase: state.Starting, Kubernetes: m.State.Kubernetes, Images: map[string]string{},
		Restore: snapshot.Dir(snapshot.Root(root), m.Name)}
	for _, img := range m.Images {
		st.Images[img.Name] = img.Dir
	}
	return st
}

// startRestored puts the snapshot's lab files into the new lab's
// directory, links its images' files as assets, makes its namespace and
// starts the lab process, which restores the machines (labd). The
// channel receives the lab process's end (see launch).
func startRestored(ctx context.Context, st *state.State, o UpOptions) (<-chan error, error) {
	l := st.Lab
	if err := snapshot.CopyLabFiles(filepath.Join(st.Restore, snapshot.LabDir), l.Dir); err != nil {
		return nil, fmt.Errorf("lab %s: files from snapshot: %w", l.Name, err)
	}
	for name, dir := range st.Images {
		if err := filecopy.LinkFiles(dir, filepath.Join(l.AssetsDir(), name)); err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
	}
	if err := makeNetns(ctx, st); err != nil {
		return nil, err
	}
	return launch(st, o.Self)
}

// awaitRestored waits until the lab process of a restored lab has resumed
// its machines, then steps each machine's clock to the host's: a guest
// resumes at the time it was saved, and certificates, leases and
// heartbeats all depend on its clock. exited is the lab process's end
// (see launch).
func awaitRestored(ctx context.Context, st *state.State, exited <-chan error) error {
	l := st.Lab
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := awaitRunning(ctx, st, exited); err != nil {
		return err
	}
	keys, err := sshkeys.ForLab(l)
	if err != nil {
		return err
	}
	sh := &check.SSH{Keys: keys, Dial: netns.Dialer(l.Netns)}
	errs := make([]error, len(l.Machines))
	var wg sync.WaitGroup
	for i, m := range l.Machines {
		wg.Go(func() { errs[i] = stepClock(ctx, sh, m) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// awaitRunning waits until the lab process records the lab running, and
// fails with what it said when it records a failure or ends. Its end is
// the one its parent saw (exited), not a look at /proc: a process that
// execs (`ip netns exec` becoming labctl) shows an empty command line for
// a moment, and a look then took a starting lab process for ended.
func awaitRunning(ctx context.Context, st *state.State, exited <-chan error) error {
	l := st.Lab
	failed := func(s *state.State) error {
		return fmt.Errorf("lab %s: restore from %s failed: %s", l.Name, st.Restore, s.Error)
	}
	for {
		s, err := state.Load(l.Dir)
		if err != nil {
			return err
		}
		switch s.Phase {
		case state.Running:
			return nil
		case state.Failed:
			return failed(s)
		}
		select {
		case werr := <-exited:
			// Its last word may be in the state, written just before it ended.
			if s, err := state.Load(l.Dir); err == nil && s.Phase == state.Failed {
				return failed(s)
			}
			// Its log goes with the lab: say what it said.
			return fmt.Errorf("lab %s: the lab process %d ended while restoring (%v); %s:\n%s", l.Name, st.Pids["labd"], werr, l.ProcessLog(), tail.File(l.ProcessLog(), 15))
		case <-ctx.Done():
			return fmt.Errorf("lab %s: machines not restored: %w (see %s)", l.Name, ctx.Err(), l.ProcessLog())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stepClock sets m's clock to the host's over SSH, the time taken just
// before the command is sent (the connection is made first).
func stepClock(ctx context.Context, sh *check.SSH, m lab.Machine) error {
	// Just resumed, its sshd may take a moment to answer under emulation.
	client, err := sh.Client(ctx, m)
	for err != nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("machine %s: step its clock: %w", m.Name, err)
		case <-time.After(200 * time.Millisecond):
		}
		client, err = sh.Client(ctx, m)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("machine %s: step its clock: %w", m.Name, err)
	}
	defer sess.Close()
	now := time.Now()
	cmd := fmt.Sprintf("date -u -s @%d.%09d >/dev/null", now.Unix(), now.Nanosecond())
	if out, err := sess.CombinedOutput(cmd); err != nil {
		return fmt.Errorf("machine %s: %s: %w: %s", m.Name, cmd, err, out)
	}
	return nil
}
