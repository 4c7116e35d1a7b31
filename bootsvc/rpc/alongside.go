package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
)

// Servable is what runs beside the API: the HTTP boot service.
type Servable interface {
	Serve(ctx context.Context, ln net.Listener) error
}

// ServeAlongside runs the HTTP boot service on ln and the API (store
// written through, tf its TLS files) on address until ctx ends or either
// fails.
func ServeAlongside(ctx context.Context, http Servable, ln net.Listener, store Store, address string, tf TLSFiles, log *slog.Logger) error {
	api, err := New(store, tf, log)
	if err != nil {
		ln.Close()
		return err
	}
	rln, err := net.Listen("tcp", address)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen on %s: %w", address, err)
	}
	log.Info("boot service API listening", "address", rln.Addr().String(), "ca", tf.CAFile)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- http.Serve(ctx, ln); cancel() }()
	go func() { errc <- api.Serve(ctx, rln); cancel() }()
	return errors.Join(<-errc, <-errc)
}
