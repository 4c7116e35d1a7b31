package main

import (
	"fmt"

	"github.com/labctl/labctl/bootsvc/rpc"
	"github.com/labctl/labctl/bootsvc/serve"
	"github.com/spf13/cobra"
)

// apiFlags are serve's flags for matchbox's gRPC API.
type apiFlags struct {
	address string
	tls     rpc.TLSFiles
}

func (a *apiFlags) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&a.address, "rpc-address", "", "HOST:PORT for matchbox's gRPC API over mutual TLS (empty: no API)")
	f.StringVar(&a.tls.CAFile, "ca-file", "", "CA certificate (PEM) that signs the API's clients")
	f.StringVar(&a.tls.CertFile, "cert-file", "", "the API server's certificate (PEM)")
	f.StringVar(&a.tls.KeyFile, "key-file", "", "the API server's private key (PEM)")
}

// check refuses a half-configured API: there is no plaintext mode, and TLS
// files without an address would be ignored silently.
func (a *apiFlags) check() error {
	given := map[string]string{"--ca-file": a.tls.CAFile, "--cert-file": a.tls.CertFile, "--key-file": a.tls.KeyFile}
	for _, name := range []string{"--ca-file", "--cert-file", "--key-file"} {
		switch {
		case a.address != "" && given[name] == "":
			return fmt.Errorf("--rpc-address needs %s (the API has no plaintext mode)", name)
		case a.address == "" && given[name] != "":
			return fmt.Errorf("%s is given but --rpc-address is not", name)
		}
	}
	return nil
}

// options is the API as the boot service's assembly takes it (nil: none).
func (a *apiFlags) options() *serve.API {
	if a.address == "" {
		return nil
	}
	return &serve.API{Address: a.address, TLS: a.tls}
}
