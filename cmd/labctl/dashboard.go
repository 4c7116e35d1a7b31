package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/bootsvc/rpc"
	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/dashboard"
)

func newDashboardCmd(g *globals) *cobra.Command {
	var listen, token, tokenFile, bootService string
	var tlsFiles rpc.TLSFiles
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a read-only web dashboard of the labs under the state directory, updated live",
		Long: `Serve a read-only web dashboard of the labs under the state directory:
the labs, and per lab its machines (power, address, firmware, phase, last
boot-service event), a boot timeline per machine, the checks' results, the
serial consoles' tails and the BMC endpoints, updated live while labs boot;
with --boot-service, a standing labctl serve's machine log too (/serve).

It listens on loopback only unless told otherwise; any other address needs
a token (--token or --token-file), which every request must carry
(?token=TOKEN once, or Authorization: Bearer TOKEN), or client
certificates: with --ca-file, --cert-file and --key-file it serves HTTPS
to clients whose certificate the CA signed, and to no one else.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token != "" && tokenFile != "" {
				return errors.New("--token and --token-file: give one")
			}
			if tokenFile != "" {
				raw, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				if token = strings.TrimSpace(string(raw)); token == "" {
					return fmt.Errorf("--token-file %s: empty", tokenFile)
				}
			}
			srv := &dashboard.Server{Root: g.stateDir, Prober: control.Prober{}, Token: token, BootService: bootService, Log: g.logger()}
			if err := dashboardTLS(srv, tlsFiles); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			if bootService != "" && !strings.HasPrefix(bootService, "http://") && !strings.HasPrefix(bootService, "https://") {
				return fmt.Errorf("--boot-service %q: not an http(s) URL (a standing labctl serve's, e.g. http://10.0.0.1:8080)", bootService)
			}
			if err := srv.Check(ln.Addr()); err != nil {
				ln.Close()
				return fmt.Errorf("--listen %s is not a loopback address: give --token or --token-file, or client certificates' --ca-file with --cert-file and --key-file", listen)
			}
			url := "http://" + ln.Addr().String() + "/"
			if srv.TLS != nil {
				url = "https://" + ln.Addr().String() + "/"
			}
			if token != "" {
				url += "?token=…"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dashboard of the labs in %s: %s\n", g.stateDir, url)
			if err := srv.Serve(cmd.Context(), ln); err != nil {
				return err
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "127.0.0.1:8090", "address to serve on; other than loopback needs --token, --token-file or --ca-file")
	fl.StringVar(&token, "token", "", "token every request must carry (required off loopback)")
	fl.StringVar(&tokenFile, "token-file", "", "file holding the token")
	fl.StringVar(&bootService, "boot-service", "", "a standing labctl serve's URL: its machine log on the page /serve")
	fl.StringVar(&tlsFiles.CAFile, "ca-file", "", "CA certificate (PEM) that signs the dashboard's clients: HTTPS, a client certificate required")
	fl.StringVar(&tlsFiles.CertFile, "cert-file", "", "the dashboard's certificate (PEM), with --ca-file")
	fl.StringVar(&tlsFiles.KeyFile, "key-file", "", "the dashboard's private key (PEM), with --ca-file")
	return cmd
}

// dashboardTLS gives srv mutual TLS when the three files are given (the
// same config as serve's API), and refuses some without the others.
func dashboardTLS(srv *dashboard.Server, tf rpc.TLSFiles) error {
	given := map[string]string{"--ca-file": tf.CAFile, "--cert-file": tf.CertFile, "--key-file": tf.KeyFile}
	var have, missing []string
	for _, name := range []string{"--ca-file", "--cert-file", "--key-file"} {
		if given[name] != "" {
			have = append(have, name)
		} else {
			missing = append(missing, name)
		}
	}
	switch {
	case len(have) == 0:
		return nil
	case len(missing) > 0:
		return fmt.Errorf("%s given without %s: the dashboard's TLS needs all three (client certificates required)", strings.Join(have, " and "), strings.Join(missing, " and "))
	}
	conf, err := tf.ServerConfig()
	if err != nil {
		return fmt.Errorf("dashboard %w", err)
	}
	srv.TLS = conf
	return nil
}
