package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/providers"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/lab/vm"
)

// Down takes the lab in dir down from its state file alone: it asks the lab
// process to stop, then destroys what the provider left, kills every process
// the state or the namespace still holds, deletes the namespace and the
// lab's directory. The namespace and what runs inside it are touched only
// when the state records that this lab made the namespace. It is
// idempotent; a lab that is not up is reported by an error matching
// os.ErrNotExist. rep is told what Down works around; it may be nil.
func Down(ctx context.Context, dir string, rep Reporter) error {
	return DownWith(ctx, dir, rep, DownOptions{})
}

// DownOptions qualify a Down.
type DownOptions struct {
	// LeavePower leaves a rack's servers powered as they are; Down powers
	// them off.
	LeavePower bool
}

// DownWith is Down as o says. A rack's lab (Lab.Rack) has no namespace of
// its own: its down stops the lab process and what it started (dnsmasq),
// powers the servers off through their BMCs, and removes the lab's
// directory, touching no interface, address or route.
func DownWith(ctx context.Context, dir string, rep Reporter, o DownOptions) error {
	log := reporter(rep).Log()
	if err := RequireRoot("take a lab down"); err != nil {
		return err
	}
	st, err := state.Load(dir)
	if err != nil {
		return err
	}
	l := st.Lab
	// Faults are healed while the lab still runs; what cannot be (its
	// machines gone) goes with the namespace and the machines below.
	if len(st.Faults) > 0 && st.OwnsNetns() && netns.Exists(l.Netns) {
		if err := healAll(ctx, st, log); err != nil {
			log.Warn("healing the lab's faults before taking it down", "err", err)
		}
	}
	var errs []error
	// Pids are reused: only this lab's own process is stopped.
	if pid := st.Pids["labd"]; proc.Runs(pid, DaemonCommand, dir) {
		syscall.Kill(pid, syscall.SIGTERM)
		if !proc.WaitGone(ctx, pid, 30*time.Second) {
			log.Warn("lab process did not stop; killing it", "pid", pid)
			proc.Kill(pid, 5*time.Second)
		}
	}
	if l.Rack != nil {
		return downRack(ctx, dir, o)
	}
	if !st.OwnsNetns() {
		// up failed before it made anything but this directory.
		return state.Remove(dir)
	}
	// After a crash the provider's own cleanup never ran.
	if prov, err := providers.New(st.Provider, providers.Config{Log: log, Accel: vm.Accel(st.Accel)}); err == nil && netns.Exists(l.Netns) {
		if err := netns.Do(l.Netns, func() error { return prov.Destroy(ctx, l) }); err != nil {
			errs = append(errs, err)
		}
	}
	if st, err := state.Load(dir); err == nil {
		for role, pid := range st.Pids {
			if role != "labd" && proc.Alive(pid) && inNetns(pid, l.Netns) {
				proc.Kill(pid, 5*time.Second)
			}
		}
	}
	if netns.Exists(l.Netns) {
		pids, _ := netns.Pids(ctx, l.Netns)
		for _, pid := range pids {
			if pid == os.Getpid() {
				continue // never this process, whatever a thread of it did
			}
			proc.Kill(pid, 5*time.Second)
		}
		if err := netns.Delete(ctx, l.Netns); err != nil {
			errs = append(errs, err)
		}
	}
	// The operator's namespace holds only the operator's end of the veth,
	// gone with the lab's namespace; what a user runs there is theirs.
	if st.MadeOperatorNetns && netns.Exists(l.OperatorNetns()) {
		if err := netns.Delete(ctx, l.OperatorNetns()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // keep the state so that down can be retried
	}
	return state.Remove(dir)
}

// downRack is the rest of a rack lab's down, once its lab process is gone.
func downRack(ctx context.Context, dir string, o DownOptions) error {
	st, err := state.Load(dir)
	if err != nil {
		return err
	}
	// Only processes that still run from this lab's directory are this
	// lab's (dnsmasq's command line names its config file there).
	for role, pid := range st.Pids {
		if role != "labd" && proc.Runs(pid, dir) {
			proc.Kill(pid, 5*time.Second)
		}
	}
	if !o.LeavePower {
		if err := powerOff(ctx, st); err != nil {
			return err // keep the state so that down can be retried
		}
	}
	return state.Remove(dir)
}

// powerOff powers every machine of the lab off through its provider,
// naming each that failed.
func powerOff(ctx context.Context, st *state.State) error {
	prov, err := Provider(st)
	if err != nil {
		return err
	}
	pd, ok := prov.(lab.PowerDriver)
	if !ok {
		return fmt.Errorf("provider %s cannot power machines off", st.Provider)
	}
	var errs []error
	for _, m := range st.Lab.Machines {
		if err := pd.SetPower(ctx, st.Lab, m.Name, power.ActionOff); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// inNetns reports whether pid lives in the named namespace, so that a
// recorded pid reused by an unrelated process is never killed.
func inNetns(pid int, ns string) bool {
	a, err1 := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
	b, err2 := os.Stat(filepath.Join(netns.Dir, ns))
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// DownAll takes down every lab recorded under root, each from its own state
// alone (see Down), and returns the directories of those it took down. A
// lab that went meanwhile is not an error, so DownAll is idempotent.
func DownAll(ctx context.Context, root string, rep Reporter) ([]string, error) {
	labs, err := state.List(root)
	if err != nil {
		return nil, err
	}
	var down []string
	var errs []error
	for _, lab := range labs {
		switch err := Down(ctx, lab.Dir, rep); {
		case err == nil:
			down = append(down, lab.Dir)
		case !errors.Is(err, os.ErrNotExist):
			errs = append(errs, fmt.Errorf("lab %s: %w", lab.Name, err))
		}
	}
	return down, errors.Join(errs...)
}
