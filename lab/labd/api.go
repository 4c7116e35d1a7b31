package labd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/rpc"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
)

// startAPI serves the gRPC API for srv on the gateway until ctx ends, with
// the certificates `labctl up` had the lab CA issue. It must run inside the
// lab's namespace.
func startAPI(ctx context.Context, wg *sync.WaitGroup, l *lab.Lab, srv *bootsvc.Server, log *slog.Logger, fail func(error)) error {
	api, err := rpc.New(srv, apiTLS(l), log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", l.APIAddr())
	if err != nil {
		return fmt.Errorf("boot service API: %w", err)
	}
	wg.Go(func() {
		if err := api.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			fail(err)
		}
	})
	return nil
}

// apiTLS names the API server's files: its certificate and key, and the lab
// CA its clients' certificates must come from.
func apiTLS(l *lab.Lab) rpc.TLSFiles {
	dir := l.PKIDir()
	return rpc.TLSFiles{CAFile: pki.CAFile(dir), CertFile: pki.CertFile(dir, pki.APIServer), KeyFile: pki.KeyFile(dir, pki.APIServer)}
}
