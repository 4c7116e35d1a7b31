package dnsmasq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Process supervises one dnsmasq: it writes the config, runs dnsmasq in the
// foreground, restarts it when it dies and stops it when ctx ends. It runs in
// the caller's network namespace.
type Process struct {
	Config     Config
	ConfigFile string
	Binary     string // "" means dnsmasq from PATH
	Log        *slog.Logger
	OnStart    func(pid int)   // called with each new pid (0 when stopped), to record it
	OnExit     func(err error) // called when dnsmasq died unasked, before it is restarted
}

// Run blocks until ctx ends, then stops dnsmasq and returns nil. It returns
// an error at once if the config is bad or dnsmasq fails to start at all.
func (p *Process) Run(ctx context.Context) error {
	text, err := p.Config.Render()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.ConfigFile), 0o755); err != nil {
		return fmt.Errorf("dnsmasq config: %w", err)
	}
	if err := os.WriteFile(p.ConfigFile, []byte(text), 0o644); err != nil {
		return fmt.Errorf("dnsmasq config: %w", err)
	}
	bin := p.Binary
	if bin == "" {
		bin = "dnsmasq"
	}
	// dnsmasq checks its config before it forks; a bad one is our bug, and
	// restarting would not fix it.
	if out, err := exec.CommandContext(ctx, bin, "--test", "--conf-file="+p.ConfigFile).CombinedOutput(); err != nil {
		return fmt.Errorf("dnsmasq --test %s: %v: %s", p.ConfigFile, err, out)
	}
	backoff := 100 * time.Millisecond
	for {
		started := time.Now()
		err := p.runOnce(ctx, bin)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		p.Log.Warn("dnsmasq exited; restarting", "err", err, "in", backoff)
		if p.OnExit != nil {
			p.OnExit(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (p *Process) runOnce(ctx context.Context, bin string) error {
	cmd := exec.Command(bin, "--keep-in-foreground", "--conf-file="+p.ConfigFile, "--pid-file=")
	if err := cmd.Start(); err != nil {
		return err
	}
	p.started(cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		p.started(0)
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
		p.started(0)
		return ctx.Err()
	}
}

func (p *Process) started(pid int) {
	if pid != 0 {
		p.Log.Info("dnsmasq running", "pid", pid, "config", p.ConfigFile)
	}
	if p.OnStart != nil {
		p.OnStart(pid)
	}
}
