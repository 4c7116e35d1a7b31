// Package proc tells, from /proc, whether a recorded pid still runs and is
// still the process that was started (pids are reused), and waits for it to go.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// poll is how often a wait looks again.
const poll = 20 * time.Millisecond

// Alive reports whether pid runs; a zombie waiting to be reaped does not.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may hold anything.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return true
	}
	return stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// ReadPidFile returns the pid a pid file holds, 0 if it holds none.
func ReadPidFile(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Runs reports whether pid is alive and its command line contains every one
// of args: a recorded pid is believed only while it is still the process
// that was started.
func Runs(pid int, args ...string) bool {
	if !Alive(pid) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	for _, a := range args {
		if !bytes.Contains(cmdline, []byte(a)) {
			return false
		}
	}
	return true
}

// WaitGone waits until pid no longer runs, for at most d or until ctx ends,
// and reports whether it is gone.
func WaitGone(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for Alive(pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
	return true
}

// Kill sends SIGKILL to pid and waits up to d for it to go. The wait does not
// end with a caller's context: a killed process goes at once, and cleanup on
// ^C should see it gone.
func Kill(pid int, d time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	if !WaitGone(context.Background(), pid, d) {
		return fmt.Errorf("process %d survives SIGKILL", pid)
	}
	return nil
}

// Terminate sends SIGTERM to pid, waits up to grace (or until ctx ends) for
// it to go, then kills it.
func Terminate(ctx context.Context, pid int, grace time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("terminate %d: %w", pid, err)
	}
	if WaitGone(ctx, pid, grace) {
		return nil
	}
	return Kill(pid, 2*time.Second)
}
