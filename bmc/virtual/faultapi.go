package virtual

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labctl/labctl/internal/sockapi"
)

// The fault API lets another process (labctl fault, on the CLI's side) arm
// and clear the faults of the virtual BMCs a lab process serves. It is
// plain HTTP on a Unix socket in the lab's directory, whose permissions
// guard it:
//
//	GET    /faults            every system's FaultStatus
//	PUT    /faults/{machine}  arm the Fault in the body; answers its FaultStatus
//	DELETE /faults/{machine}  clear it; answers its FaultStatus

// NewFaultHandler serves the fault API for systems.
func NewFaultHandler(systems []*System) http.Handler {
	byName := map[string]*System{}
	var names []string
	for _, s := range systems {
		byName[s.Name] = s
		names = append(names, s.Name)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		all := []FaultStatus{}
		for _, s := range systems {
			all = append(all, s.FaultStatus())
		}
		json.NewEncoder(w).Encode(all)
	})
	system := func(w http.ResponseWriter, req *http.Request) *System {
		s := byName[req.PathValue("machine")]
		if s == nil {
			http.Error(w, fmt.Sprintf("no virtual BMC of a machine named %q (machines: %s)", req.PathValue("machine"), strings.Join(names, ", ")), http.StatusNotFound)
		}
		return s
	}
	mux.HandleFunc("PUT /faults/{machine}", func(w http.ResponseWriter, req *http.Request) {
		s := system(w, req)
		if s == nil {
			return
		}
		var f Fault
		dec := json.NewDecoder(io.LimitReader(req.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			http.Error(w, "fault: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.SetFault(f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(s.FaultStatus())
	})
	mux.HandleFunc("DELETE /faults/{machine}", func(w http.ResponseWriter, req *http.Request) {
		if s := system(w, req); s != nil {
			s.ClearFault()
			json.NewEncoder(w).Encode(s.FaultStatus())
		}
	})
	return mux
}

// FaultClient speaks the fault API over the Unix socket at Socket.
type FaultClient struct{ Socket string }

// Set arms f on machine's virtual BMC and returns the status the lab
// process reports: armed on the system that answers its requests.
func (c FaultClient) Set(ctx context.Context, machine string, f Fault) (FaultStatus, error) {
	var st FaultStatus
	err := c.call(ctx, http.MethodPut, "/faults/"+machine, f, &st)
	return st, err
}

// Clear disarms machine's fault.
func (c FaultClient) Clear(ctx context.Context, machine string) (FaultStatus, error) {
	var st FaultStatus
	err := c.call(ctx, http.MethodDelete, "/faults/"+machine, nil, &st)
	return st, err
}

// List reports every system's fault.
func (c FaultClient) List(ctx context.Context) ([]FaultStatus, error) {
	var all []FaultStatus
	err := c.call(ctx, http.MethodGet, "/faults", nil, &all)
	return all, err
}

func (c FaultClient) call(ctx context.Context, method, path string, body, out any) error {
	return sockapi.Call(ctx, c.Socket, "virtual BMC fault API", method, path, body, out)
}
