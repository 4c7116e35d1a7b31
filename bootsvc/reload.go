package bootsvc

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// ReloadOnHUP reloads the data directory on each SIGHUP until ctx ends; a
// failed reload keeps the last good state.
func (srv *Server) ReloadOnHUP(ctx context.Context, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := srv.Reload(); err != nil {
				log.Error("reload on SIGHUP failed; keeping the last good state", "err", err)
			} else {
				log.Info("reloaded data directory on SIGHUP")
			}
		}
	}
}
