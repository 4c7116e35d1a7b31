package control

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/state"
)

// labdHelperCommand, as this test binary's first argument, makes it stand
// in for a restoring lab process: labdHelper MODE DIR.
const labdHelperCommand = "control-test-labd"

// labdHelper acts out a lab process's restore of the lab in dir:
// "restores" records it running after a restore's while and stays up,
// "dies" says why on its standard error and exits 3 (a crash that records
// nothing), "fails" records the failure as labd.Run does and exits 1.
func labdHelper(mode, dir string) int {
	switch mode {
	case "restores":
		time.Sleep(300 * time.Millisecond) // the restore; its command line is not labd's meanwhile
		if err := state.Update(dir, func(s *state.State) { s.Phase = state.Running }); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		select {} // until killed
	case "dies":
		fmt.Fprintln(os.Stderr, "labd: restore node1: open state: no such file or directory")
		return 3
	case "fails":
		state.Update(dir, func(s *state.State) { s.Phase, s.Error = state.Failed, "restore node1: state truncated" })
		return 1
	}
	return 2
}

// A restore waits on the lab process it started, not on /proc: the lab
// process is `ip netns exec NS labctl lab-daemon`, which execs, and while a
// process execs its command line reads empty. Up --from-snapshot took a
// lab process so caught for one that had ended, within 75 ms of its
// start, in 2 of 4 full runs of TestE2EEtcd3. Here the lab process is a
// script that execs into a stand-in whose command line is not labd's at
// all: only the process's real end counts, with its exit status and last
// words, or the failure it recorded.
func TestAwaitRestoredWatchesTheProcess(t *testing.T) {
	tests := []struct {
		mode string
		want []string // in the error; none: the lab runs
	}{
		{"restores", nil},
		{"dies", []string{"the lab process", "ended while restoring (exit status 3)", "labd: restore node1: open state: no such file or directory"}},
		{"fails", []string{"lab snaptest: restore from /snapshots/gold failed: restore node1: state truncated"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			dir := t.TempDir()
			// What launch runs as labctl: a script that execs, as `ip netns exec` does.
			self := filepath.Join(t.TempDir(), "labctl")
			script := fmt.Sprintf("#!/bin/sh\nexec %q %s %s \"$3\"\n", os.Args[0], labdHelperCommand, tt.mode)
			if err := os.WriteFile(self, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			st := &state.State{Lab: &lab.Lab{Name: "snaptest", Dir: dir}, Provider: "qemu", Phase: state.Starting, Restore: "/snapshots/gold"}
			if err := state.Create(st); err != nil {
				t.Fatal(err)
			}
			exited, err := launch(st, self)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if syscall.Kill(st.Pids["labd"], syscall.SIGKILL) == nil {
					<-exited
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = awaitRunning(ctx, st, exited)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("awaitRunning: %v; want the lab running", err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("awaitRunning: %v; want an error with %q", err, w)
				}
			}
		})
	}
}
