package supervise

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A daemon that dies is started again, each death told to OnExit; when the
// context ends it is stopped with SIGTERM and OnStart hears pid 0.
func TestDaemon(t *testing.T) {
	var mu sync.Mutex
	var pids []int
	var exits []error
	exited := make(chan struct{}, 10)
	started := make(chan int, 10)
	die := true
	d := &Daemon{
		Name: "t",
		Command: func() *exec.Cmd {
			mu.Lock()
			defer mu.Unlock()
			if die {
				return exec.Command("sh", "-c", "exit 3")
			}
			return exec.Command("sleep", "600")
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnStart: func(pid int) {
			mu.Lock()
			pids = append(pids, pid)
			mu.Unlock()
			started <- pid
		},
		OnExit: func(err error) {
			mu.Lock()
			exits = append(exits, err)
			if len(exits) == 2 {
				die = false // the third start stays up
			}
			mu.Unlock()
			exited <- struct{}{}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	deadline := time.After(time.Minute)
	for range 2 {
		select {
		case <-exited:
		case <-deadline:
			t.Fatal("the dying daemon was not restarted twice within a minute")
		}
	}
	// The third start, the one that stays up.
	var pid int
	for pid == 0 {
		select {
		case p := <-started:
			mu.Lock()
			if !die && p != 0 {
				pid = p
			}
			mu.Unlock()
		case <-deadline:
			t.Fatal("the daemon was not started a third time")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context ended")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, err := range exits {
		if err == nil || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("OnExit got %v, want exit status 3", err)
		}
	}
	if pids[len(pids)-1] != 0 {
		t.Errorf("OnStart calls %v: want the last to be 0 (stopped)", pids)
	}
	// Run stopped it and waited for it: the pid names no process now.
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("kill -0 %d after Run returned: %v, want ESRCH (the sleep was stopped and reaped)", pid, err)
	}
}
