package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/dhcp"
	"github.com/labctl/labctl/bootsvc/dnsmasq"
	"github.com/labctl/labctl/bootsvc/serve"
	"github.com/spf13/cobra"
)

// serveFlags are serve's flags beyond the boot service's own Config.
type serveFlags struct {
	address   string
	iface     string
	dhcp      string
	inventory string
	dhcpRange string
	domain    string
	runDir    string
	ipxeDir   string
}

func newServeCmd() *cobra.Command {
	var cfg bootsvc.Config
	var f serveFlags
	var api apiFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a matchbox-layout data directory to network-booting machines",
		Long: `serve runs the boot service: /boot.ipxe, /ipxe, /grub, /ignition, /cloud,
/generic, /metadata (with .sig/.asc signatures when --sign-key is given),
/assets/, /report, /machines, /healthz, /metrics and Pixiecore's API
(/pixiecore/v1/boot/MAC).

With --interface it serves a rack on that interface's IPv4 address, and
--dhcp says who hands out addresses: proxy (the site's DHCP server keeps
them; a supervised dnsmasq answers PXE clients only), full (dnsmasq hands
out the --inventory's reserved addresses, and --dhcp-range if given) or
none (the site's DHCP already points at /boot.ipxe; docs/racks.md). labctl
never changes the interface's addresses, routes or links.

With --rpc-address it also serves matchbox's gRPC API (groups, profiles,
Ignition and generic templates, selection) over mutual TLS: --ca-file,
--cert-file and --key-file are then required. A write through it is judged
against the data being served and served before the call returns.

The data directory is reloaded when it changes (and on SIGHUP, which also
reads --inventory again); a bad file keeps the last good state. SIGTERM stops gracefully (dnsmasq included). The
signing key's passphrase comes from ` + bootsvc.PassphraseEnv + `. Every flag is also a LABCTL_* variable.`,
		Example: `  labctl serve --data bootsvc/examples --assets bootsvc/examples/assets --address 127.0.0.1:8080
  labctl serve --data /srv/boot --interface eno2 --dhcp proxy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := api.check(); err != nil {
				return err
			}
			if cfg.MaxMachines < 1 {
				return fmt.Errorf("--max-machines: %d is not a positive number", cfg.MaxMachines)
			}
			o, err := f.dhcpOptions(cmd)
			if err != nil {
				return err
			}
			// Everything that can be refused is, before anything starts.
			var link dhcp.Link
			if f.iface != "" {
				if link, err = dhcp.Inspect(f.iface); err != nil {
					return fmt.Errorf("--interface: %w", err)
				}
				if !cmd.Flags().Changed("address") {
					f.address = net.JoinHostPort(link.Addr.Addr().String(), "8080")
				}
				// The machines are sent to the interface's address.
				if host, _, err := net.SplitHostPort(f.address); err == nil && host != "" && host != "0.0.0.0" && host != link.Addr.Addr().String() {
					return fmt.Errorf("--address %s: not on --interface %s (%s), where the machines are sent", f.address, f.iface, link.Addr.Addr())
				}
			}
			if o.BootPort, err = port(f.address); err != nil {
				return err
			}
			conf, err := dhcp.Config(o, link)
			if o.Mode != dhcp.None && err != nil {
				return fmt.Errorf("--dhcp %s: %w", o.Mode, err)
			}
			level := slog.LevelInfo
			if slog.Default().Enabled(cmd.Context(), slog.LevelDebug) {
				level = slog.LevelDebug
			}
			svc, err := serve.Start(serve.Options{Boot: cfg, Address: f.address, API: api.options(), RequestLog: os.Stderr, LogLevel: level})
			if err != nil {
				return err
			}
			slog.Info("boot service", "data", cfg.DataDir, "assets", cfg.AssetsDir, "dhcp", o.Mode, "interface", f.iface)
			if o.Mode == dhcp.None {
				return svc.Run(cmd.Context())
			}
			if err := os.MkdirAll(o.Dir, 0o755); err != nil {
				return fmt.Errorf("--run-dir: %w", err)
			}
			// The boot service and dnsmasq stop together: either failing
			// stops the other, and SIGTERM stops both.
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			errc := make(chan error, 1)
			// SIGHUP reads the inventory again (and the data directory).
			reconfigure := func() (dnsmasq.Config, error) {
				if f.inventory != "" {
					res, err := reservations(f.inventory)
					if err != nil {
						return dnsmasq.Config{}, err
					}
					o.Reservations = res
				}
				return dhcp.Config(o, link)
			}
			go func() { errc <- dhcp.Run(ctx, o, conf, reconfigure, slog.Default()); cancel() }()
			err = svc.Run(ctx)
			cancel()
			return errors.Join(err, <-errc)
		},
	}
	api.flags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&cfg.DataDir, "data", "", "matchbox-layout data directory (groups/, profiles/, ignition/, cloud/, generic/)")
	fl.StringVar(&cfg.AssetsDir, "assets", "", "directory served at /assets/ (empty: none)")
	fl.StringVar(&f.address, "address", "127.0.0.1:8080", "HOST:PORT to listen on (with --interface: its IPv4 address, port 8080)")
	fl.StringVar(&cfg.SignKeyFile, "sign-key", "", "OpenPGP secret key (armored or binary) for .sig/.asc signatures")
	fl.IntVar(&cfg.MaxMachines, "max-machines", bootsvc.DefaultMaxMachines,
		fmt.Sprintf("machines the /machines log keeps (the one seen longest ago is forgotten first; each keeps its last %d events)", bootsvc.MaxEvents))
	fl.StringVar(&f.iface, "interface", "", "the rack's interface (it must be up with an IPv4 address; labctl never changes it)")
	fl.StringVar(&f.dhcp, "dhcp", "none", "who hands out addresses on --interface: proxy (the site; labctl answers PXE only), full (labctl: --inventory's reservations) or none")
	fl.StringVar(&f.inventory, "inventory", "", "inventory YAML whose machines' mac and address are --dhcp full's reservations")
	fl.StringVar(&f.dhcpRange, "dhcp-range", "", "START-END: addresses --dhcp full hands to machines without a reservation (empty: reservations only)")
	fl.StringVar(&f.domain, "domain", "rack.internal", "DNS domain of the machines in --dhcp full")
	fl.StringVar(&f.runDir, "run-dir", "/var/lib/labctl/serve", "where dnsmasq's config, TFTP root, leases and log go")
	fl.StringVar(&f.ipxeDir, "ipxe-dir", "", "directory holding iPXE binaries for TFTP (empty: Debian's)")
	cmd.MarkFlagRequired("data")
	return cmd
}

// dhcpOptions checks the DHCP flags against each other.
func (f *serveFlags) dhcpOptions(cmd *cobra.Command) (dhcp.Options, error) {
	mode, err := dhcp.ParseMode(f.dhcp)
	if err != nil {
		return dhcp.Options{}, fmt.Errorf("--dhcp: %w", err)
	}
	o := dhcp.Options{Mode: mode, Interface: f.iface, Domain: f.domain, Dir: f.runDir, IPXEDir: f.ipxeDir}
	switch {
	case mode != dhcp.None && f.iface == "":
		return o, fmt.Errorf("--dhcp %s needs --interface (the rack's interface dnsmasq answers on)", mode)
	case mode != dhcp.Full && (f.inventory != "" || f.dhcpRange != ""):
		return o, fmt.Errorf("--inventory and --dhcp-range are for --dhcp full, not --dhcp %s", mode)
	case mode == dhcp.Full && f.inventory == "" && f.dhcpRange == "":
		return o, fmt.Errorf("--dhcp full needs --inventory (reservations) or --dhcp-range: there is nothing to hand out")
	}
	if f.dhcpRange != "" {
		if o.Range, err = dhcp.ParseRange(f.dhcpRange); err != nil {
			return o, fmt.Errorf("--dhcp-range: %w", err)
		}
	}
	if f.inventory != "" {
		if o.Reservations, err = reservations(f.inventory); err != nil {
			return o, fmt.Errorf("--inventory: %w", err)
		}
	}
	return o, nil
}

// reservations are the addresses the inventory at path reserves, for
// --dhcp full: a machine without one is known by its BMC and booted by
// whatever address it gets.
func reservations(path string) ([]dhcp.Reservation, error) {
	inv, err := inventory.Load(path)
	if err != nil {
		return nil, err
	}
	var res []dhcp.Reservation
	for i, m := range inv.Machines {
		if m.Address.IsValid() {
			res = append(res, dhcp.Reservation{
				Field: fmt.Sprintf("%s: machines[%d] (%s)", inv.Path, i, m.Name), Name: m.Name, MAC: m.MAC, Address: m.Address})
		}
	}
	return res, nil
}

func port(address string) (uint16, error) {
	_, p, err := net.SplitHostPort(address)
	if err == nil {
		var n uint64
		if n, err = strconv.ParseUint(p, 10, 16); err == nil {
			return uint16(n), nil
		}
	}
	return 0, fmt.Errorf("--address %q: want HOST:PORT (%v)", address, err)
}
