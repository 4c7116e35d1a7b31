package labd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/scenarios"
)

// DaemonCommand is the hidden labctl subcommand that runs Run.
const DaemonCommand = "lab-daemon"

// Check validates what `labctl up` was given, before anything is built or
// made: the scenario, the provider, the namespace name, and that the
// namespace does not exist yet. It returns the state Start would record.
func Check(source, provider, ns string) (*state.State, error) {
	if err := RequireRoot("bring a lab up"); err != nil {
		return nil, err
	}
	sc, err := scenarios.Find(source)
	if err != nil {
		return nil, err
	}
	if strings.ContainsRune(source, os.PathSeparator) {
		if source, err = filepath.Abs(source); err != nil {
			return nil, err
		}
	}
	if ns == "" {
		ns = "labctl-" + sc.Name
	}
	if err := netns.Available(ns); err != nil {
		return nil, err
	}
	dir := state.Dir(sc.Name)
	if _, err := Provider(provider, slog.Default(), dir); err != nil {
		return nil, err
	}
	return &state.State{Source: source, Lab: sc.Lab(dir, ns), Provider: provider, Phase: state.Starting}, nil
}

// Start records a new lab in its state file (before anything exists), makes
// its namespace and starts the lab process (self re-run as DaemonCommand)
// inside it, detached, so the caller may exit and the lab stays up. Each
// step is recorded as it is made, so that Down undoes only those.
func Start(ctx context.Context, source, provider, ns, self string) (*state.State, error) {
	st, err := Check(source, provider, ns)
	if err != nil {
		return nil, err
	}
	dir, ns := st.Lab.Dir, st.Lab.Netns
	if err := state.Create(st); err != nil {
		return nil, err
	}
	if err := netns.Create(ctx, ns); err != nil {
		return st, err
	}
	if err := state.Update(dir, func(s *state.State) { s.MadeNetns = true }); err != nil {
		netns.Delete(ctx, ns)
		return st, err
	}
	st.MadeNetns = true
	logf, err := os.OpenFile(ProcessLog(dir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return st, err
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", ns, self, DaemonCommand, "--state", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // survives labctl's exit and ^C
	if err := cmd.Start(); err != nil {
		return st, fmt.Errorf("start lab process: %w", err)
	}
	// `ip netns exec` execs, so this pid is the lab process itself.
	pid := cmd.Process.Pid
	cmd.Process.Release()
	if err := state.SetPid(dir, "labd", pid); err != nil {
		return st, err
	}
	st.Pids = map[string]int{"labd": pid}
	return st, nil
}

// Down takes the lab in dir down from its state file alone: it asks the lab
// process to stop, then destroys what the provider left, kills every process
// the state or the namespace still holds, deletes the namespace and the
// lab's directory. The namespace and what runs inside it are touched only
// when the state records that this lab made the namespace. It is
// idempotent; a lab that is not up is reported by an error matching
// os.ErrNotExist.
func Down(ctx context.Context, dir string, log *slog.Logger) error {
	if err := RequireRoot("take a lab down"); err != nil {
		return err
	}
	st, err := state.Load(dir)
	if err != nil {
		return err
	}
	l := st.Lab
	var errs []error
	// Pids are reused: only this lab's own process is stopped.
	if pid := st.Pids["labd"]; proc.Runs(pid, DaemonCommand, dir) {
		syscall.Kill(pid, syscall.SIGTERM)
		if !proc.WaitGone(ctx, pid, 30*time.Second) {
			log.Warn("lab process did not stop; killing it", "pid", pid)
			proc.Kill(pid, 5*time.Second)
		}
	}
	if !st.OwnsNetns() {
		// up failed before it made anything but this directory.
		return state.Remove(dir)
	}
	// After a crash the provider's own cleanup never ran.
	if prov, err := Provider(st.Provider, log, dir); err == nil && netns.Exists(l.Netns) {
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
	if err := errors.Join(errs...); err != nil {
		return err // keep the state so that down can be retried
	}
	return state.Remove(dir)
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
func DownAll(ctx context.Context, root string, log *slog.Logger) ([]string, error) {
	labs, err := state.List(root)
	if err != nil {
		return nil, err
	}
	var down []string
	var errs []error
	for _, lab := range labs {
		switch err := Down(ctx, lab.Dir, log); {
		case err == nil:
			down = append(down, lab.Dir)
		case !errors.Is(err, os.ErrNotExist):
			errs = append(errs, fmt.Errorf("lab %s: %w", lab.Name, err))
		}
	}
	return down, errors.Join(errs...)
}

// NameOf is the lab a SCENARIO argument names: a built-in scenario's name
// as is, a scenario directory by the name in its scenario.yaml. Names that
// could reach outside the state directory are refused.
func NameOf(arg string) (string, error) {
	name := arg
	if strings.ContainsRune(arg, os.PathSeparator) {
		sc, err := scenarios.Find(arg)
		if err != nil {
			return "", fmt.Errorf("lab %q: not a lab name, nor a scenario directory: %w", arg, err)
		}
		name = sc.Name
	}
	if err := state.CheckName(name); err != nil {
		return "", err
	}
	return name, nil
}

// RequireRoot refuses, saying why, to do what needs root: network
// namespaces, bridges, taps and the lab's processes in them.
func RequireRoot(what string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("labctl needs root to %s (network namespaces, bridges, taps): run it as root, e.g. with sudo", what)
	}
	return nil
}
