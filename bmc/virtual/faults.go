package virtual

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/bougou/go-ipmi/pkg/handlers"
	"github.com/bougou/go-ipmi/pkg/types"
)

// Faults a virtual BMC can be made to show while it runs (labctl fault
// bmc-*), each for the next N requests it applies to or until cleared:
// what a real BMC does under load, after a reset or with a job pending,
// so that clients are proven to ride it out or to fail naming the machine.
const (
	// FaultError: Redfish 503 (ServiceTemporarilyUnavailable) to the
	// system's requests; IPMI Node Busy (C0h) to chassis commands.
	FaultError = "error"
	// FaultTimeout: no answer at all. Redfish holds the answer until the
	// client gives up (or the fault is cleared); IPMI drops the packets.
	FaultTimeout = "timeout"
	// FaultDropSessions: the session a request arrives in is forgotten
	// (Redfish: answered 401; IPMI: closed, its next request unanswered).
	FaultDropSessions = "drop-sessions"
	// FaultRefuseBoot: a boot override is refused: Redfish 409
	// ResourceInUse, IPMI Node Busy (C0h) to the boot flags.
	FaultRefuseBoot = "refuse-boot"
)

// FaultKinds are the kinds a Fault may have.
var FaultKinds = []string{FaultError, FaultTimeout, FaultDropSessions, FaultRefuseBoot}

// Fault is a misbehaviour of a system's BMC (both its faces).
type Fault struct {
	Kind string `json:"kind"`
	// Requests is how many requests it spoils (IPMI time-outs: packets);
	// 0: every one until it is cleared.
	Requests int `json:"requests,omitempty"`
}

func (f Fault) check() error {
	if !slices.Contains(FaultKinds, f.Kind) {
		return fmt.Errorf("BMC fault kind %q: want one of %s", f.Kind, strings.Join(FaultKinds, ", "))
	}
	if f.Requests < 0 {
		return fmt.Errorf("BMC fault %s: requests %d is negative", f.Kind, f.Requests)
	}
	return nil
}

// FaultStatus is a system's fault as it stands: armed, and how many
// requests it spoiled so far.
type FaultStatus struct {
	Machine string `json:"machine"`
	Armed   bool   `json:"armed"`
	Fault   Fault  `json:"fault"`
	Hits    int    `json:"hits"`
}

// faultState is a System's fault; guarded by System.mu.
type faultState struct {
	f      Fault
	armed  bool
	hits   int
	healed chan struct{} // closed when cleared: answers held back go out
}

// SetFault arms f on s, replacing any fault it had.
func (s *System) SetFault(f Fault) error {
	if err := f.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault.armed {
		close(s.fault.healed)
	}
	s.fault = faultState{f: f, armed: true, healed: make(chan struct{})}
	return nil
}

// ClearFault disarms s's fault; clearing none is no error.
func (s *System) ClearFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault.armed {
		close(s.fault.healed)
	}
	s.fault = faultState{}
}

// FaultStatus reports s's fault.
func (s *System) FaultStatus() FaultStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return FaultStatus{Machine: s.Name, Armed: s.fault.armed, Fault: s.fault.f, Hits: s.fault.hits}
}

// spoil reports whether a fault of kind spoils this request, and counts
// it; healed is closed when the fault is cleared.
func (s *System) spoil(kind string) (healed <-chan struct{}, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.fault
	if !st.armed || st.f.Kind != kind || st.f.Requests > 0 && st.hits >= st.f.Requests {
		return nil, false
	}
	st.hits++
	return st.healed, true
}

// faulty applies the addressed system's fault to a Redfish request: a
// request under /redfish/v1/Systems/{id}.
func (r *redfish) faulty(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rest, ok := strings.CutPrefix(req.URL.Path, "/redfish/v1/Systems/")
		if !ok {
			next.ServeHTTP(w, req)
			return
		}
		id, sub, _ := strings.Cut(strings.TrimSuffix(rest, "/"), "/")
		s := r.systems[strings.ToLower(id)]
		if s == nil {
			next.ServeHTTP(w, req)
			return
		}
		if healed, ok := s.spoil(FaultTimeout); ok {
			select {
			case <-req.Context().Done():
				return
			case <-healed:
			}
		}
		if _, ok := s.spoil(FaultError); ok {
			r.busy(w)
			return
		}
		if tok := req.Header.Get("X-Auth-Token"); tok != "" {
			if _, ok := s.spoil(FaultDropSessions); ok {
				r.dropSession(tok)
			}
		}
		if req.Method == http.MethodPatch && sub == "" {
			if _, ok := s.spoil(FaultRefuseBoot); ok {
				rfError(w, http.StatusConflict, "ResourceInUse",
					"the boot override of "+s.id()+" cannot be changed now: a job is pending; retry later")
				return
			}
		}
		next.ServeHTTP(w, req)
	})
}

// dropSession forgets the session whose token is tok.
func (r *redfish) dropSession(tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, s := range r.sessions {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1 {
			delete(r.sessions, id)
		}
	}
}

// ipmiFaults applies s's fault to IPMI commands in a session: chassis
// commands answered busy, or the session closed under them.
func (s *System) ipmiFaults(next handlers.Handler) handlers.Handler {
	return handlers.HandlerFunc(func(ctx context.Context, hctx *handlers.HandlerContext, req []byte) ([]byte, types.CompletionCode, error) {
		if hctx == nil || hctx.Session == nil {
			return next.Handle(ctx, hctx, req)
		}
		if hctx.Command.NetFn == types.NetFnChassisRequest {
			if _, ok := s.spoil(FaultError); ok {
				return nil, types.CodeNodeBusy, nil
			}
		}
		if _, ok := s.spoil(FaultDropSessions); ok && hctx.BMC != nil {
			// This answer still goes out; the session's next request finds
			// no session and is not answered.
			hctx.BMC.Sessions.Close(hctx.Session.BMCID)
		}
		return next.Handle(ctx, hctx, req)
	})
}

// silentConn is a BMC's IPMI socket that drops what arrives while its
// system has a time-out fault.
type silentConn struct {
	net.PacketConn
	sys *System
}

func (c silentConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if _, drop := c.sys.spoil(FaultTimeout); !drop {
			return n, addr, nil
		}
	}
}
