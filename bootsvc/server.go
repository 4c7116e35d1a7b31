// Package bootsvc is labctl's boot service: it serves iPXE, GRUB, Ignition,
// cloud-config, generic templates and assets from a matchbox-layout data directory.
package bootsvc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/bootsvc/outage"
)

// Config says where the boot service's data is.
type Config struct {
	DataDir   string // matchbox-layout data directory
	AssetsDir string // served at /assets/; "" disables
	// FirmwareDir holds the EFI binaries served to UEFI HTTP boot at
	// /efi/{mac}/{file} (the lab's TFTP root: the same files TFTP serves);
	// "" disables.
	FirmwareDir string
	SignKeyFile string // optional OpenPGP secret key (armored or binary); passphrase from env LABCTL_SIGN_PASSPHRASE
	MaxMachines int    // machines the machine log keeps, the one seen longest ago forgotten first; 0: DefaultMaxMachines
	// MachineLog, if the file exists, is a machine log (GET /machines'
	// JSON) to start from: a lab restored from a snapshot keeps what its
	// machines reported before.
	MachineLog string
	Logger     *slog.Logger // nil: slog.Default()
	// Outage, if not nil, can make the service fail on purpose (a lab's
	// boot-service-error fault).
	Outage *outage.Switch
}

// Server answers boot requests from the last good load of the data directory.
type Server struct {
	cfg      Config
	log      *slog.Logger
	state    atomic.Pointer[state]
	signer   *signer
	assets   *os.Root
	firmware *os.Root
	machines *registry
	metrics  *metrics
	butane   butaneCache
	bufs     sync.Pool // of *bytes.Buffer, for boot scripts
	handler  http.Handler

	reloadMu       sync.Mutex
	failedFP       uint64 // fingerprint of the last load that failed, to log it once
	lastErr        error  // why the last reload failed; nil after a good one. Writes wait for a good one.
	unreadable     bool   // the data directory could not be walked at the last poll
	reloadInterval time.Duration
}

// New loads the data directory; a bad file is an error naming it.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("no data directory given")
	}
	s := &Server{
		cfg:            cfg,
		log:            cfg.Logger,
		machines:       newRegistry(cfg.MaxMachines),
		metrics:        newMetrics(),
		reloadInterval: 2 * time.Second,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	st, err := loadState(cfg.DataDir, s.log)
	if err != nil {
		return nil, fmt.Errorf("load data directory %s: %w", cfg.DataDir, err)
	}
	s.state.Store(st)
	s.metrics.setLoaded(st)
	if cfg.MachineLog != "" {
		if err := s.machines.load(cfg.MachineLog); err != nil {
			return nil, fmt.Errorf("machine log %s: %w", cfg.MachineLog, err)
		}
	}
	if cfg.AssetsDir != "" {
		if s.assets, err = os.OpenRoot(cfg.AssetsDir); err != nil {
			return nil, fmt.Errorf("assets directory: %w", err)
		}
	}
	if cfg.FirmwareDir != "" {
		if s.firmware, err = os.OpenRoot(cfg.FirmwareDir); err != nil {
			return nil, fmt.Errorf("firmware directory: %w", err)
		}
	}
	if cfg.SignKeyFile != "" {
		if s.signer, err = loadSigner(cfg.SignKeyFile); err != nil {
			return nil, err
		}
	}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.handler = s.routes()
	if cfg.Outage != nil {
		s.handler = cfg.Outage.Wrap(s.handler)
	}
	return s, nil
}

// Handler serves every endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

// Machines returns every machine that has asked for something, oldest first.
func (s *Server) Machines() []bootlog.Record {
	ms, _ := s.machines.list(nil)
	return ms
}

// Reload reads the data directory now. On error the last good state stays
// in service and the error names the file at fault.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloadLocked()
}

func (s *Server) reloadLocked() error {
	st, err := loadState(s.cfg.DataDir, s.log)
	if err != nil {
		s.metrics.reloads.WithLabelValues("error").Inc()
		s.lastErr = fmt.Errorf("reload %s: %w", s.cfg.DataDir, err)
		return s.lastErr
	}
	s.state.Store(st)
	s.metrics.setLoaded(st)
	s.metrics.reloads.WithLabelValues("ok").Inc()
	s.failedFP, s.lastErr = 0, nil
	return nil
}

// watch polls the data directory and reloads it when a file changed.
// Polling (not inotify) also sees changes under bind mounts and editors'
// rename-over writes, and costs one stat per file every interval.
func (s *Server) watch(ctx context.Context) {
	t := time.NewTicker(s.reloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Under the lock: a write between the walk and the comparison
		// would look like an edit by hand and cost a whole reload.
		s.reloadMu.Lock()
		fp, err := fingerprint(s.cfg.DataDir)
		if err == nil {
			s.unreadable = false
		}
		switch {
		case err != nil:
			if !s.unreadable {
				s.log.Error("data directory unreadable; keeping the last good state", "dir", s.cfg.DataDir, "err", err)
			}
			s.unreadable = true
		case fp != s.state.Load().fingerprint && fp != s.failedFP:
			if err := s.reloadLocked(); err != nil {
				s.log.Error("reload failed; keeping the last good state", "err", err)
				s.failedFP = fp
			} else {
				s.log.Info("reloaded data directory", "dir", s.cfg.DataDir)
			}
		}
		s.reloadMu.Unlock()
	}
}

// Serve answers on ln until ctx ends, then shuts down gracefully. It also
// reloads the data directory when it changes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute, // request bodies are at most a 64 KiB report
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Write deadlines are set per request: short for configs, long for assets.
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.watch(wctx)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer scancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
		err = fmt.Errorf("shutdown %s: %w", ln.Addr(), err)
	}
	<-errc
	return err
}
