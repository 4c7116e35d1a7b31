// Package kea runs a simulated rack's site DHCP server: Debian's
// kea-dhcp4-server with a reservation per machine, configured and
// supervised (in the foreground, restarted when it dies) the way labctl's
// dnsmasq is, but knowing nothing of booting: it is the site's, not labctl's.
package kea

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/labctl/labctl/internal/supervise"
)

// Config is what the site's DHCP server serves on one interface.
type Config struct {
	Interface    string
	Subnet       netip.Prefix
	Router       netip.Addr // the routers option; invalid: none
	Domain       string     // the domain-name option; "": none
	Reservations []Reservation
	LeaseFile    string // memfile, CSV
	LogFile      string
}

// Reservation is the address the site keeps for one MAC.
type Reservation struct {
	Hostname string
	MAC      net.HardwareAddr
	IP       netip.Addr
}

// Render returns Kea's JSON configuration: only reserved clients get an
// address (the subnet has no pool), as on a rack whose inventory lists each
// machine's address.
func (c Config) Render() ([]byte, error) {
	if c.Interface == "" || !c.Subnet.IsValid() || c.LeaseFile == "" || c.LogFile == "" {
		return nil, fmt.Errorf("kea config: interface, subnet, lease file and log file are required")
	}
	type option struct {
		Name string `json:"name"`
		Data string `json:"data"`
	}
	type reservation struct {
		HWAddress string `json:"hw-address"`
		IPAddress string `json:"ip-address"`
		Hostname  string `json:"hostname,omitempty"`
	}
	var opts []option
	if c.Router.IsValid() {
		opts = append(opts, option{"routers", c.Router.String()})
	}
	if c.Domain != "" {
		opts = append(opts, option{"domain-name", c.Domain})
	}
	res := []reservation{}
	for _, r := range c.Reservations {
		if !c.Subnet.Contains(r.IP) {
			return nil, fmt.Errorf("kea config: reservation %s for %s is outside %s", r.IP, r.MAC, c.Subnet)
		}
		res = append(res, reservation{r.MAC.String(), r.IP.String(), r.Hostname})
	}
	doc := map[string]any{"Dhcp4": map[string]any{
		// Raw sockets: clients without an address yet are answered on the link.
		"interfaces-config": map[string]any{"interfaces": []string{c.Interface}, "dhcp-socket-type": "raw"},
		"lease-database":    map[string]any{"type": "memfile", "persist": true, "name": c.LeaseFile, "lfc-interval": 0},
		"valid-lifetime":    3600,
		"subnet4": []map[string]any{{
			"id": 1, "subnet": c.Subnet.Masked().String(), "option-data": opts, "reservations": res,
		}},
		"loggers": []map[string]any{{
			"name": "kea-dhcp4", "severity": "INFO",
			"output_options": []map[string]any{{"output": c.LogFile}},
		}},
	}}
	return json.MarshalIndent(doc, "", "  ")
}

// Process supervises one kea-dhcp4 in the caller's network namespace.
type Process struct {
	Config     Config
	ConfigFile string
	RunDir     string // Kea's pid and lock files (it wants /run/kea otherwise)
	Binary     string // "" means kea-dhcp4 from PATH
	Log        *slog.Logger
	OnStart    func(pid int)   // each new pid (0 when stopped), to record it
	OnExit     func(err error) // Kea died unasked, before it is restarted
}

// Run writes the config, has Kea check it, and runs Kea until ctx ends,
// restarting it when it dies; it returns an error at once if the config is
// refused or Kea cannot start at all.
func (p *Process) Run(ctx context.Context) error {
	text, err := p.Config.Render()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.RunDir, 0o755); err != nil {
		return fmt.Errorf("kea run directory: %w", err)
	}
	if err := os.WriteFile(p.ConfigFile, text, 0o644); err != nil {
		return fmt.Errorf("kea config: %w", err)
	}
	bin := p.Binary
	if bin == "" {
		bin = "kea-dhcp4"
	}
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("%s: %w (install Debian's kea-dhcp4-server)", bin, err)
	}
	check := p.command(ctx, bin, "-t", p.ConfigFile)
	if out, err := check.CombinedOutput(); err != nil {
		return fmt.Errorf("kea-dhcp4 -t %s: %v: %s", p.ConfigFile, err, out)
	}
	logf, err := os.OpenFile(filepath.Join(p.RunDir, "kea-dhcp4.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	d := supervise.Daemon{
		Name: "kea-dhcp4",
		Command: func() *exec.Cmd {
			// Not bound to ctx: stopped with SIGTERM, so that it flushes its leases.
			cmd := p.command(context.WithoutCancel(ctx), bin, "-c", p.ConfigFile)
			cmd.Stdout, cmd.Stderr = logf, logf
			return cmd
		},
		Log: p.Log, OnStart: p.OnStart, OnExit: p.OnExit,
	}
	d.Run(ctx)
	return nil
}

func (p *Process) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KEA_PIDFILE_DIR="+p.RunDir, "KEA_LOCKFILE_DIR="+p.RunDir)
	return cmd
}
