// Package supervise keeps a daemon that runs in the foreground running:
// started again with backoff when it exits unasked, stopped with SIGTERM
// (SIGKILL 5 s later) when its context ends. dnsmasq and Kea run this way.
package supervise

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// Daemon is one supervised program.
type Daemon struct {
	Name string // in logs
	// Command makes the command for each start. It is not bound to a
	// context: the daemon is stopped with SIGTERM, so that it can flush
	// what it keeps (Kea its leases).
	Command func() *exec.Cmd
	Log     *slog.Logger
	OnStart func(pid int)   // called with each new pid (0 when stopped), to record it
	OnExit  func(err error) // called when it died unasked, before it is restarted
}

// Run blocks until ctx ends, restarting the daemon whenever it exits, then
// stops it and returns.
func (d *Daemon) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		started := time.Now()
		err := d.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		// One that ran a while has recovered: a new failure starts over.
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		d.Log.Warn(d.Name+" exited; restarting", "err", err, "in", backoff)
		if d.OnExit != nil {
			d.OnExit(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (d *Daemon) runOnce(ctx context.Context) error {
	cmd := d.Command()
	if err := cmd.Start(); err != nil {
		return err
	}
	d.started(cmd.Process.Pid, cmd.Args)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		d.started(0, nil)
		if err == nil {
			err = errors.New("exited with status 0")
		}
		return err
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		d.started(0, nil)
		return ctx.Err()
	}
}

func (d *Daemon) started(pid int, args []string) {
	if pid != 0 {
		d.Log.Info(d.Name+" running", "pid", pid, "args", args)
	}
	if d.OnStart != nil {
		d.OnStart(pid)
	}
}
