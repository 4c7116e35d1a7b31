// Package outage makes a boot service fail on purpose for a while (a
// lab's boot-service-error fault), and is the API that sets it from another
// process. It needs nothing of ours: bootsvc wraps its handler in a Switch.
package outage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync/atomic"

	"github.com/labctl/labctl/internal/sockapi"
)

// Switch, while set, makes the boot service answer every request with an
// error status (a lab's boot service failing for its machines, a fault of
// its boot path), except requests from the addresses it exempts: the lab's
// own clients, which read the machine log from the gateway. Set and Clear
// are safe while the service serves.
type Switch struct {
	Exempt []netip.Addr
	status atomic.Int32
}

// Set makes every request not exempt answered with status (500 to 599).
func (o *Switch) Set(status int) error {
	if status < 500 || status > 599 {
		return fmt.Errorf("outage status %d: want a server error, 500 to 599", status)
	}
	o.status.Store(int32(status))
	return nil
}

// Clear ends the outage.
func (o *Switch) Clear() { o.status.Store(0) }

// Status is the status every request not exempt is answered with, or 0.
func (o *Switch) Status() int { return int(o.status.Load()) }

// Wrap serves h, or the outage's status while one is set.
func (o *Switch) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		status := o.Status()
		if status == 0 || o.exempt(req.RemoteAddr) {
			h.ServeHTTP(w, req)
			return
		}
		w.Header().Set("Retry-After", "5")
		http.Error(w, "labctl boot service: failing on purpose (a fault injected into the lab's boot path)", status)
	})
}

func (o *Switch) exempt(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	for _, a := range o.Exempt {
		if ap.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

// The outage API lets another process (labctl fault, on the CLI's side)
// set and clear the outage of the boot service a lab process serves: plain
// HTTP on a Unix socket in the lab's directory, whose permissions guard it.
//
//	GET    /outage  {"status": N} (0: none)
//	PUT    /outage  {"status": N}: set; answers the outage now in force
//	DELETE /outage  clear it; answers {"status": 0}

// State is the outage API's body.
type State struct {
	Status int `json:"status"`
}

// Handler serves the outage API for o.
func Handler(o *Switch) http.Handler {
	mux := http.NewServeMux()
	state := func(w http.ResponseWriter) { json.NewEncoder(w).Encode(State{Status: o.Status()}) }
	mux.HandleFunc("GET /outage", func(w http.ResponseWriter, _ *http.Request) { state(w) })
	mux.HandleFunc("PUT /outage", func(w http.ResponseWriter, req *http.Request) {
		var s State
		dec := json.NewDecoder(io.LimitReader(req.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			http.Error(w, "outage: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := o.Set(s.Status); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		state(w)
	})
	mux.HandleFunc("DELETE /outage", func(w http.ResponseWriter, _ *http.Request) {
		o.Clear()
		state(w)
	})
	return mux
}

// Client speaks the outage API over the Unix socket at Socket.
type Client struct{ Socket string }

// Set sets the outage and returns the one the lab process reports in force.
func (c Client) Set(ctx context.Context, status int) (State, error) {
	var st State
	err := c.call(ctx, http.MethodPut, State{Status: status}, &st)
	return st, err
}

// Clear ends the outage.
func (c Client) Clear(ctx context.Context) (State, error) {
	var st State
	err := c.call(ctx, http.MethodDelete, nil, &st)
	return st, err
}

func (c Client) call(ctx context.Context, method string, body, out any) error {
	return sockapi.Call(ctx, c.Socket, "boot service outage API", method, "/outage", body, out)
}
