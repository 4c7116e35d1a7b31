package netem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/labctl/labctl/internal/sockapi"
	"github.com/labctl/labctl/lab"
)

// Attacher puts a machine's redirectors on its NIC, connected to the two
// sockets of its MachineFiles (LinkOut: the frames it sends; LinkIn: the
// same frames handed back), and takes them off again (the providers,
// through QMP). Detaching what is not there, or from a machine that is
// not running, is no error.
type Attacher interface {
	AttachRelay(ctx context.Context, l *lab.Lab, machine string) error
	DetachRelay(ctx context.Context, l *lab.Lab, machine string) error
}

// Links holds the relays of one lab's machines, at most one each.
type Links struct {
	Lab      *lab.Lab
	Attacher Attacher
	Log      *slog.Logger

	mu     sync.Mutex
	active map[string]*link
}

type link struct {
	relay *relay
	stop  chan struct{}
	done  chan struct{} // closed once the relay ended and its streams are closed
}

// Status is a machine's link as the lab process has it.
type Status struct {
	Machine string `json:"machine"`
	Shape   *Shape `json:"shape,omitempty"` // nil: not shaped
	// Relayed counts the frames handed back; Early those of them sent at
	// once (reorder).
	Relayed uint64 `json:"relayed"`
	Early   uint64 `json:"early"`
}

// acceptLimit bounds how long QEMU takes to connect to a relay's sockets
// once its chardevs are added (it connects as it adds them).
const acceptLimit = 5 * time.Second

// Set shapes the frames machine sends: a relay on its two sockets, then
// the redirectors on its NIC. A link shaped already takes the new shape.
func (ls *Links) Set(ctx context.Context, machine string, s Shape) (Status, error) {
	if err := s.Check(); err != nil {
		return Status{}, fmt.Errorf("machine %s: %w", machine, err)
	}
	if _, _, err := ls.Lab.Machine(machine); err != nil {
		return Status{}, err
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if lk := ls.live(machine); lk != nil {
		lk.relay.setShape(s)
		return ls.status(machine, lk), nil
	}
	f := ls.Lab.MachineFiles(machine)
	out, in, err := ls.connect(ctx, machine, f.LinkOut, f.LinkIn)
	if err != nil {
		return Status{}, err // the provider's error names the machine
	}
	lk := &link{relay: newRelay(s), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		err := lk.relay.run(out, in, lk.stop)
		out.Close()
		in.Close()
		if !errors.Is(err, errStopped) {
			// QEMU closed its end: the machine stopped or was started
			// anew (a cold start), its filters gone with the old process.
			ls.Log.Info("link relay ended", "machine", machine, "err", err)
		}
		close(lk.done)
	}()
	if ls.active == nil {
		ls.active = map[string]*link{}
	}
	ls.active[machine] = lk
	return ls.status(machine, lk), nil
}

// connect listens on the relay's two sockets, has the provider attach the
// machine's redirectors to them, and returns the streams QEMU opened: the
// frames out of the machine, and the way back in.
func (ls *Links) connect(ctx context.Context, machine, outSock, inSock string) (out, in net.Conn, err error) {
	type accepted struct {
		c   net.Conn
		err error
	}
	socks := []string{outSock, inSock}
	lns := make([]net.Listener, 0, 2)
	results := make([]chan accepted, 0, 2)
	defer func() {
		for i, ln := range lns {
			ln.Close()
			os.Remove(socks[i])
		}
		if err != nil { // the streams QEMU opened, if any
			for _, r := range results {
				if a := <-r; a.c != nil {
					a.c.Close()
				}
			}
		}
	}()
	for _, sock := range socks {
		os.Remove(sock) // a crashed lab process's
		ln, err := sockapi.Listen(sock)
		if err != nil {
			return nil, nil, err
		}
		lns = append(lns, ln)
		if err := os.Chmod(sock, 0o600); err != nil {
			return nil, nil, err
		}
		r := make(chan accepted, 1)
		results = append(results, r)
		go func() {
			c, err := ln.Accept()
			r <- accepted{c, err}
		}()
	}
	// What an attach that failed halfway added (a chardev, a filter) is
	// taken off again, or the next attach would find its ids taken.
	detach := func(err error) error {
		if derr := ls.Attacher.DetachRelay(context.WithoutCancel(ctx), ls.Lab, machine); derr != nil {
			err = errors.Join(err, fmt.Errorf("detaching again: %w", derr))
		}
		return err
	}
	if err := ls.Attacher.AttachRelay(ctx, ls.Lab, machine); err != nil {
		return nil, nil, detach(err)
	}
	timer := time.NewTimer(acceptLimit)
	defer timer.Stop()
	var conns [2]net.Conn
	for i, r := range results {
		select {
		case a := <-r:
			conns[i], err = a.c, a.err
			r <- accepted{a.c, nil} // for the deferred close, should the other fail
		case <-timer.C:
			err = fmt.Errorf("QEMU did not connect to %s within %s", socks[i], acceptLimit)
		}
		if err != nil {
			return nil, nil, detach(err)
		}
	}
	return conns[0], conns[1], nil
}

// Clear hands back at once what the machine's relay holds, takes its
// redirectors off and ends the relay. Clearing a link not shaped is no
// error.
func (ls *Links) Clear(ctx context.Context, machine string) (Status, error) {
	if _, _, err := ls.Lab.Machine(machine); err != nil {
		return Status{}, err
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	lk := ls.live(machine)
	if lk == nil {
		return Status{Machine: machine}, nil // never shaped, or its QEMU is gone and its filters with it
	}
	lk.relay.drain(time.Second)
	err := ls.Attacher.DetachRelay(ctx, ls.Lab, machine)
	close(lk.stop)
	<-lk.done
	delete(ls.active, machine)
	st := ls.status(machine, lk)
	st.Shape = nil
	return st, err // the provider's error names the machine
}

// live is the machine's relay if it still runs; one that ended (its QEMU
// gone) is forgotten.
func (ls *Links) live(machine string) *link {
	lk := ls.active[machine]
	if lk == nil {
		return nil
	}
	select {
	case <-lk.done:
		delete(ls.active, machine)
		return nil
	default:
		return lk
	}
}

func (ls *Links) status(machine string, lk *link) Status {
	lk.relay.mu.Lock()
	s := lk.relay.shape
	lk.relay.mu.Unlock()
	return Status{Machine: machine, Shape: &s, Relayed: lk.relay.relayed.Load(), Early: lk.relay.early.Load()}
}

// List is every shaped link, by machine name.
func (ls *Links) List() []Status {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var all []Status
	for name := range ls.active {
		if lk := ls.live(name); lk != nil {
			all = append(all, ls.status(name, lk))
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Machine < all[j].Machine })
	return all
}

// Close ends every relay (the lab going down; its machines with it).
func (ls *Links) Close() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for name, lk := range ls.active {
		close(lk.stop)
		<-lk.done
		delete(ls.active, name)
	}
}

// The links API lets another process (labctl fault, a scenario's step)
// shape and clear a machine's link in the lab process: plain HTTP on a
// Unix socket in the lab's directory, whose permissions guard it.
//
//	GET    /links            [Status...] of the shaped links
//	PUT    /links/{machine}  Shape: shape it; answers its Status
//	DELETE /links/{machine}  clear it; answers its Status (counters final)

// Handler serves the links API for ls.
func Handler(ls *Links) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /links", func(w http.ResponseWriter, _ *http.Request) { reply(w, ls.List(), nil) })
	mux.HandleFunc("PUT /links/{machine}", func(w http.ResponseWriter, req *http.Request) {
		var s Shape
		dec := json.NewDecoder(io.LimitReader(req.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			http.Error(w, "link shape: "+err.Error(), http.StatusBadRequest)
			return
		}
		st, err := ls.Set(req.Context(), req.PathValue("machine"), s)
		reply(w, st, err)
	})
	mux.HandleFunc("DELETE /links/{machine}", func(w http.ResponseWriter, req *http.Request) {
		st, err := ls.Clear(req.Context(), req.PathValue("machine"))
		reply(w, st, err)
	})
	return mux
}

// Client speaks the links API over the Unix socket at Socket.
type Client struct{ Socket string }

// Set shapes the machine's link and returns its status.
func (c Client) Set(ctx context.Context, machine string, s Shape) (Status, error) {
	var st Status
	err := c.call(ctx, http.MethodPut, "/links/"+machine, s, &st)
	return st, err
}

// Clear ends the machine's shaping and returns its final counters.
func (c Client) Clear(ctx context.Context, machine string) (Status, error) {
	var st Status
	err := c.call(ctx, http.MethodDelete, "/links/"+machine, nil, &st)
	return st, err
}

func (c Client) call(ctx context.Context, method, path string, body, out any) error {
	return sockapi.Call(ctx, c.Socket, "link relay API", method, path, body, out)
}
