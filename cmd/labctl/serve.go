package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/labctl/labctl/bootsvc"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var cfg bootsvc.Config
	var address string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a matchbox-layout data directory to network-booting machines",
		Long: `serve runs the boot service: /boot.ipxe, /ipxe, /grub, /ignition, /cloud,
/generic, /metadata (with .sig/.asc signatures when --sign-key is given),
/assets/, /report, /machines, /healthz and /metrics.

The data directory is reloaded when it changes (and on SIGHUP); a bad file
keeps the last good state. The signing key's passphrase comes from
` + bootsvc.PassphraseEnv + `. Every flag is also a LABCTL_* variable.`,
		Example: "  labctl serve --data bootsvc/examples --assets bootsvc/examples/assets --address 127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = slog.Default()
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
			return srv.Serve(ctx, ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", "", "matchbox-layout data directory (groups/, profiles/, ignition/, cloud/, generic/)")
	f.StringVar(&cfg.AssetsDir, "assets", "", "directory served at /assets/ (empty: none)")
	f.StringVar(&address, "address", "127.0.0.1:8080", "HOST:PORT to listen on")
	f.StringVar(&cfg.SignKeyFile, "sign-key", "", "OpenPGP secret key (armored or binary) for .sig/.asc signatures")
	cmd.MarkFlagRequired("data")
	return cmd
}
