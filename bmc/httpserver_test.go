package bmc_test

import (
	"errors"
	"net"
	"net/http"
	"testing"
)

// httpServer serves h on ln until the test ends.
type httpServer struct {
	ln net.Listener
	h  http.Handler
}

func (s *httpServer) start(t *testing.T) {
	srv := &http.Server{Handler: s.h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(s.ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
}
