package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/rpc"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var cfg bootsvc.Config
	var address string
	var api apiFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a matchbox-layout data directory to network-booting machines",
		Long: `serve runs the boot service: /boot.ipxe, /ipxe, /grub, /ignition, /cloud,
/generic, /metadata (with .sig/.asc signatures when --sign-key is given),
/assets/, /report, /machines, /healthz, /metrics and Pixiecore's API
(/pixiecore/v1/boot/MAC).

With --rpc-address it also serves matchbox's gRPC API (groups, profiles,
Ignition and generic templates, selection) over mutual TLS: --ca-file,
--cert-file and --key-file are then required. Writes land in the data
directory as matchbox writes them and are served on the next request.

The data directory is reloaded when it changes (and on SIGHUP); a bad file
keeps the last good state. The signing key's passphrase comes from
` + bootsvc.PassphraseEnv + `. Every flag is also a LABCTL_* variable.`,
		Example: "  labctl serve --data bootsvc/examples --assets bootsvc/examples/assets --address 127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := api.check(); err != nil {
				return err
			}
			if cfg.MaxMachines < 1 {
				return fmt.Errorf("--max-machines: %d is not a positive number", cfg.MaxMachines)
			}
			serverGC()
			// The request log is batched (bootsvc.LogWriter): a write per
			// request would cost as much as answering it; bootsvc.NewLogger
			// formats its lines without slog's generic machinery.
			level := slog.LevelInfo
			if slog.Default().Enabled(cmd.Context(), slog.LevelDebug) {
				level = slog.LevelDebug
			}
			logw := bootsvc.NewLogWriter(os.Stderr, 100*time.Millisecond)
			defer logw.Close()
			cfg.Logger = bootsvc.NewLogger(logw, level)
			srv, err := bootsvc.New(cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", address)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", address, err)
			}
			ctx := cmd.Context()
			go srv.ReloadOnHUP(ctx, slog.Default())
			slog.Info("boot service listening", "address", ln.Addr().String(), "data", cfg.DataDir, "assets", cfg.AssetsDir)
			if api.address == "" {
				return srv.Serve(ctx, ln)
			}
			return rpc.ServeAlongside(ctx, srv, ln, srv, api.address, api.tls, slog.Default())
		},
	}
	api.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", "", "matchbox-layout data directory (groups/, profiles/, ignition/, cloud/, generic/)")
	f.StringVar(&cfg.AssetsDir, "assets", "", "directory served at /assets/ (empty: none)")
	f.StringVar(&address, "address", "127.0.0.1:8080", "HOST:PORT to listen on")
	f.StringVar(&cfg.SignKeyFile, "sign-key", "", "OpenPGP secret key (armored or binary) for .sig/.asc signatures")
	f.IntVar(&cfg.MaxMachines, "max-machines", bootsvc.DefaultMaxMachines,
		fmt.Sprintf("machines the /machines log keeps (the one seen longest ago is forgotten first; each keeps its last %d events)", bootsvc.MaxEvents))
	cmd.MarkFlagRequired("data")
	return cmd
}

// serverGC tunes the collector for a process that serves the boot service
// (labctl serve, the lab daemon): its live heap is small, so Go's default
// (collect when the heap doubles) ran the collector often enough to cost
// about a tenth of /ipxe's CPU. Collecting at 5× the live heap, under a
// soft 100 MiB limit that keeps a flooded machine log's peak bounded
// (docs/benchmarks.md: 131.5 MiB at worst, against 141.1 by default).
// GOGC and GOMEMLIMIT, when set, win.
func serverGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(100 << 20)
	}
}
