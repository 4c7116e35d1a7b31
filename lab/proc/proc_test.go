package proc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// start runs a real shell in its own process group and makes sure that the
// group (the shell's children too) is gone when the test ends. With reap,
// the shell is waited for in the background as soon as it exits, as a
// daemon's parent would; without, an exited shell stays a zombie.
func start(t *testing.T, script string, reap bool) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	if reap {
		go func() { cmd.Wait(); close(waited) }()
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if !reap {
			cmd.Wait()
			close(waited)
		}
		<-waited
	})
	return cmd
}

func TestAliveAndRuns(t *testing.T) {
	running := start(t, "sleep 60; : proc-test-marker", false)
	zombie := start(t, "exit 0", false)
	// Not reaped: it stays a zombie, which is not alive.
	for i := 0; i < 250 && Alive(zombie.Process.Pid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	pidFile := filepath.Join(t.TempDir(), "x.pid")
	os.WriteFile(pidFile, []byte(strconv.Itoa(running.Process.Pid)+"\n"), 0o644)
	tests := []struct {
		name  string
		pid   int
		args  []string
		alive bool
		runs  bool
	}{
		{name: "running", pid: running.Process.Pid, args: []string{"sleep 60", "proc-test-marker"}, alive: true, runs: true},
		{name: "running, other command line", pid: running.Process.Pid, args: []string{"qemu-system"}, alive: true, runs: false},
		{name: "zombie", pid: zombie.Process.Pid, alive: false, runs: false},
		{name: "zero", pid: 0},
		{name: "negative", pid: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Alive(tt.pid); got != tt.alive {
				t.Errorf("Alive(%d) = %v, want %v", tt.pid, got, tt.alive)
			}
			if got := Runs(tt.pid, tt.args...); got != tt.runs {
				t.Errorf("Runs(%d, %q) = %v, want %v", tt.pid, tt.args, got, tt.runs)
			}
		})
	}
	if got := ReadPidFile(pidFile); got != running.Process.Pid {
		t.Errorf("ReadPidFile = %d, want %d", got, running.Process.Pid)
	}
	os.WriteFile(pidFile, []byte("garbage"), 0o644)
	if got := ReadPidFile(pidFile); got != 0 {
		t.Errorf("ReadPidFile of garbage = %d, want 0", got)
	}
	if got := ReadPidFile(filepath.Join(t.TempDir(), "missing")); got != 0 {
		t.Errorf("ReadPidFile of a missing file = %d, want 0", got)
	}
}

func TestTerminate(t *testing.T) {
	tests := []struct {
		name   string
		script string
		grace  time.Duration
		// At least this long must pass: a process that ignores SIGTERM is
		// killed only after its grace.
		atLeast     time.Duration
		ignoresTerm bool // wait until the shell has set its trap
	}{
		{"stops on SIGTERM", "exec sleep 60", 10 * time.Second, 0, false},
		{"ignores SIGTERM, killed", "trap '' TERM; while :; do sleep 0.05; done", 500 * time.Millisecond, 500 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := start(t, tt.script, true)
			for deadline := time.Now().Add(10 * time.Second); tt.ignoresTerm && !ignores(t, cmd.Process.Pid, syscall.SIGTERM); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("pid %d does not ignore SIGTERM 10s after its start", cmd.Process.Pid)
				}
			}
			began := time.Now()
			if err := Terminate(context.Background(), cmd.Process.Pid, tt.grace); err != nil {
				t.Fatal(err)
			}
			if Alive(cmd.Process.Pid) {
				t.Fatalf("pid %d runs after Terminate", cmd.Process.Pid)
			}
			if took := time.Since(began); took < tt.atLeast {
				t.Errorf("Terminate took %s, want at least the grace %s", took, tt.atLeast)
			}
		})
	}
}

func TestWaitGone(t *testing.T) {
	cmd := start(t, "exec sleep 60", true)
	if WaitGone(context.Background(), cmd.Process.Pid, 100*time.Millisecond) {
		t.Error("WaitGone reported a running process gone")
	}
	// With an ended context WaitGone returns at once, not after its hour.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := make(chan bool, 1)
	go func() { gone <- WaitGone(ctx, cmd.Process.Pid, time.Hour) }()
	select {
	case g := <-gone:
		if g {
			t.Error("WaitGone with an ended context reported a running process gone")
		}
	case <-time.After(time.Minute):
		t.Fatal("WaitGone with an ended context still waits after a minute")
	}
	if err := Kill(cmd.Process.Pid, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if !WaitGone(context.Background(), cmd.Process.Pid, time.Second) {
		t.Error("WaitGone: a killed process still runs")
	}
}

// ignores reads the set of ignored signals (SigIgn, a hex mask with bit
// sig-1) from /proc/PID/status.
func ignores(t *testing.T, pid int, sig syscall.Signal) bool {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("SigIgn %q: %v", v, err)
			}
			return mask&(1<<(sig-1)) != 0
		}
	}
	t.Fatalf("no SigIgn in /proc/%d/status", pid)
	return false
}
