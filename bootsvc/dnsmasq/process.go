package dnsmasq

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/labctl/labctl/internal/supervise"
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
	d := supervise.Daemon{
		Name: "dnsmasq",
		Command: func() *exec.Cmd {
			return exec.Command(bin, "--keep-in-foreground", "--conf-file="+p.ConfigFile, "--pid-file=")
		},
		Log: p.Log, OnStart: p.OnStart, OnExit: p.OnExit,
	}
	d.Run(ctx)
	return nil
}
