// Package serve assembles the boot service as a process runs it: collector
// tuning, a batched request log, the HTTP listener, matchbox's gRPC API,
// reload on SIGHUP and a graceful stop. `labctl serve` and the lab process
// both call it, so a rack's standing service and a lab's behave the same.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/rpc"
)

// Options are one boot service: its data, where it listens, where it logs.
type Options struct {
	Boot    bootsvc.Config // its Logger is made here, from RequestLog
	Address string         // HOST:PORT of the HTTP service
	// Addresses are more HOST:PORTs it answers on besides (a lab's IPv6
	// gateway), with the same handlers and log.
	Addresses []string
	// TLS, if set, is one more address it answers on, over HTTPS (UEFI
	// HTTPS boot), with the same handlers and log.
	TLS *TLS
	API *API // nil: no gRPC API
	// RequestLog receives one line per request, batched: a write per
	// request would cost as much as answering it.
	RequestLog io.Writer
	LogLevel   slog.Level
	Log        *slog.Logger // the service's own events: listening, reloads
}

// TLS is the HTTPS address and its certificate's files (PEM).
type TLS struct {
	Address, CertFile, KeyFile string
}

// listen opens the HTTPS listener. Debian's OVMF speaks TLS 1.2 with RSA key
// exchange or finite-field DHE only (its OpenSSL has no elliptic curves);
// Go serves RSA key exchange only when it is named, so the suites are.
func (t *TLS) listen() (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("boot service: HTTPS certificate: %w", err)
	}
	ln, err := net.Listen("tcp", t.Address)
	if err != nil {
		return nil, fmt.Errorf("boot service: listen on %s: %w", t.Address, err)
	}
	return tls.NewListener(ln, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384, // OVMF's
		},
	}), nil
}

// API is where matchbox's gRPC API listens and its TLS files.
type API struct {
	Address string
	TLS     rpc.TLSFiles
}

// Service is a loaded data directory and its open listeners, not yet serving.
type Service struct {
	srv     *bootsvc.Server
	api     *rpc.Server
	ln, rln net.Listener
	also    []string // Options.Addresses, and TLS's
	logw    *bootsvc.LogWriter
	log     *slog.Logger
}

// Start loads the data directory and opens the listeners, so that a bad
// file, a taken port or an unreadable certificate fails here, before the
// caller goes on; Run then serves.
func Start(o Options) (*Service, error) {
	tuneGC()
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	logw := bootsvc.NewLogWriter(o.RequestLog, 100*time.Millisecond)
	s := &Service{logw: logw, log: log, also: o.Addresses}
	o.Boot.Logger = bootsvc.NewLogger(logw, o.LogLevel)
	var err error
	if s.srv, err = bootsvc.New(o.Boot); err != nil {
		s.close()
		return nil, err
	}
	var more []net.Listener
	if o.TLS != nil {
		tln, err := o.TLS.listen()
		if err != nil {
			s.close()
			return nil, err
		}
		more = append(more, tln)
		s.also = append(slices.Clip(s.also), tln.Addr().String()+" (https)")
	}
	if s.ln, err = listenAll(append([]string{o.Address}, o.Addresses...), more...); err != nil {
		s.close()
		return nil, fmt.Errorf("boot service: listen on %s: %w", strings.Join(append([]string{o.Address}, o.Addresses...), ", "), err)
	}
	if o.API != nil {
		if s.api, err = rpc.New(s.srv, o.API.TLS, o.Boot.Logger); err != nil {
			s.close()
			return nil, err
		}
		if s.rln, err = net.Listen("tcp", o.API.Address); err != nil {
			s.close()
			return nil, fmt.Errorf("boot service API: listen on %s: %w", o.API.Address, err)
		}
	}
	return s, nil
}

// Server is the boot service itself (its machine log, its data).
func (s *Service) Server() *bootsvc.Server { return s.srv }

// Addr is where the HTTP service listens.
func (s *Service) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx ends or a listener fails, reloading the data
// directory on SIGHUP, then stops gracefully: requests in flight finish,
// and the request log is flushed.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Registered before Run says it listens, so a SIGHUP from then on
	// reloads and never ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go s.reloadOn(ctx, hup)
	s.log.Info("boot service listening", "address", s.ln.Addr().String(), "also", s.also)
	errc := make(chan error, 2)
	n := 1
	go func() { errc <- s.srv.Serve(ctx, s.ln); cancel() }()
	if s.api != nil {
		n++
		s.log.Info("boot service API listening", "address", s.rln.Addr().String())
		go func() { errc <- s.api.Serve(ctx, s.rln); cancel() }()
	}
	var errs []error
	for range n {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// reloadOn reloads the data directory on each signal until ctx ends; a
// failed reload keeps the last good state.
func (s *Service) reloadOn(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := s.srv.Reload(); err != nil {
				s.log.Error("reload on SIGHUP failed; keeping the last good state", "err", err)
			} else {
				s.log.Info("reloaded data directory on SIGHUP")
			}
		}
	}
}

func (s *Service) close() {
	for _, ln := range []net.Listener{s.ln, s.rln} {
		if ln != nil {
			ln.Close() // already closed after Serve: harmless
		}
	}
	s.logw.Close()
}

// tuneGC tunes the collector for a process that serves the boot service:
// its live heap is small, so Go's default (collect when the heap doubles)
// ran the collector often enough to cost about a tenth of /ipxe's CPU.
// Collecting at 5× the live heap, under a soft 100 MiB limit that keeps a
// flooded machine log's peak bounded (docs/benchmarks.md: 131.5 MiB at
// worst, against 141.1 by default). GOGC and GOMEMLIMIT, when set, win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(100 << 20)
	}
}
