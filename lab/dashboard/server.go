package dashboard

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/lab/state"
)

// Server serves the dashboard of the labs under Root.
type Server struct {
	Root   string
	Prober Prober // nil: no power or health, only what the files say
	// Token, when set, is required of every request (the ?token= query,
	// which sets a cookie, or an Authorization: Bearer header). Serve
	// refuses a listener on a non-loopback address without one, unless TLS
	// requires client certificates.
	Token string
	// TLS, when set, makes the dashboard HTTPS. When it requires and
	// verifies client certificates, only the clients its CA signed get a
	// connection at all, which lets a non-loopback listener serve without
	// a token.
	TLS *tls.Config
	// BootService, when set, is a standing boot service's URL (labctl
	// serve), whose machine log the page /serve shows.
	BootService string
	Log         *slog.Logger
	// Tick is how often a live page's files are looked at (default 500ms);
	// the browser keeps one connection and is sent a page only when it changed.
	Tick time.Duration

	mu     sync.Mutex
	probes map[string]probed // by lab: a page a tick, the lab asked at most every probeEvery
}

// probeEvery bounds how often a lab's provider and boot service are asked,
// however many pages watch it.
const probeEvery = 2 * time.Second

type probed struct {
	at    time.Time
	probe *Probe
	err   error
}

// Probe asks the server's Prober about st, or answers what it said less
// than probeEvery ago.
func (s *Server) Probe(ctx context.Context, st *state.State) (*Probe, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.probes[st.Lab.Name]; ok && time.Since(p.at) < probeEvery {
		return p.probe, p.err
	}
	p, err := s.Prober.Probe(ctx, st)
	if s.probes == nil {
		s.probes = map[string]probed{}
	}
	s.probes[st.Lab.Name] = probed{at: time.Now(), probe: p, err: err}
	return p, err
}

const tokenCookie = "labctl_dashboard_token"

// LoopbackError refuses to serve a non-loopback address without a token
// or client certificates.
type LoopbackError struct{ Addr string }

func (e *LoopbackError) Error() string {
	return fmt.Sprintf("dashboard on %s: not a loopback address, so a token or client certificates are required", e.Addr)
}

// Serve serves ln until ctx ends, over TLS when the server has a TLS
// config. A listener on any address but loopback needs a Token or client
// certificates: the dashboard is never open to the network by accident.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.Check(ln.Addr()); err != nil {
		return err
	}
	if s.TLS != nil {
		ln = tls.NewListener(ln, s.TLS)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(s.log().Handler(), slog.LevelWarn)} // refused TLS handshakes among them
	go func() {
		<-ctx.Done()
		srv.Close() // live pages never end by themselves
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

// Check refuses (with a *LoopbackError) to serve addr, not a loopback
// address, without a token or client certificates.
func (s *Server) Check(addr net.Addr) error {
	if s.Token == "" && !s.clientCertificates() && !loopback(addr) {
		return &LoopbackError{Addr: addr.String()}
	}
	return nil
}

// clientCertificates says whether the TLS config lets in only clients
// with a certificate its CA signed.
func (s *Server) clientCertificates() bool {
	return s.TLS != nil && s.TLS.ClientAuth == tls.RequireAndVerifyClientCert && s.TLS.ClientCAs != nil
}

func loopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// Handler is the dashboard's routes, behind the token check.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.labs)
	mux.HandleFunc("GET /events", s.labsEvents)
	mux.HandleFunc("GET /labs/{name}", s.lab)
	mux.HandleFunc("GET /labs/{name}/events", s.labEvents)
	mux.HandleFunc("GET /labs/{name}/console/{machine}", s.console)
	if s.BootService != "" {
		mux.HandleFunc("GET /serve", s.serve)
		mux.HandleFunc("GET /serve/events", s.serveEvents)
	}
	if s.Token == "" {
		return mux
	}
	return s.requireToken(mux)
}

// requireToken refuses a request without the token with 401, saying how to
// give it.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given := r.URL.Query().Get("token")
		fromQuery := given != ""
		if !fromQuery {
			if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				given = h
			} else if c, err := r.Cookie(tokenCookie); err == nil {
				given = c.Value
			}
		}
		if subtle.ConstantTimeCompare([]byte(given), []byte(s.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="labctl dashboard"`)
			msg := "missing dashboard token: open the page with ?token=TOKEN or send Authorization: Bearer TOKEN (the token labctl dashboard was given with --token or --token-file)"
			if given != "" {
				msg = "wrong dashboard token: give the token labctl dashboard was started with (--token or --token-file)"
			}
			http.Error(w, msg, http.StatusUnauthorized)
			return
		}
		if fromQuery {
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: given, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) labsPage() (*labsPage, error) {
	labs, err := state.List(s.Root)
	if err != nil {
		return nil, err
	}
	return &labsPage{Root: s.Root, Labs: labs, Now: time.Now(), BootService: s.BootService}, nil
}

func (s *Server) labs(w http.ResponseWriter, r *http.Request) {
	p, err := s.labsPage()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.render(w, "labs", p)
}

func (s *Server) labsEvents(w http.ResponseWriter, r *http.Request) {
	s.stream(w, r, func(ctx context.Context, buf *bytes.Buffer) error {
		p, err := s.labsPage()
		if err != nil {
			return err
		}
		return pages.ExecuteTemplate(buf, "labsbody", p)
	})
}

// labPage reads the lab called name; last is what was seen before, shown
// as down when the lab has gone.
func (s *Server) labPage(ctx context.Context, name string, last *Lab) *labPage {
	p := &labPage{Name: name, Root: s.Root}
	if err := state.CheckName(name); err != nil {
		p.Why = err.Error()
		return p
	}
	var prober Prober
	if s.Prober != nil {
		prober = s
	}
	l, err := Read(ctx, state.Dir(s.Root, name), prober)
	switch {
	case err == nil:
		for i := range l.Machines {
			l.Machines[i].ConsoleLink = name + "/console/" + l.Machines[i].Name
		}
		p.Lab = l
	case errors.Is(err, os.ErrNotExist) && last != nil:
		gone := *last
		gone.Down = "it was taken down (its state file is gone)"
		p.Lab = &gone
	case !errors.Is(err, os.ErrNotExist):
		p.Why = err.Error()
	}
	return p
}

func (s *Server) lab(w http.ResponseWriter, r *http.Request) {
	s.render(w, "lab", s.labPage(r.Context(), r.PathValue("name"), nil))
}

func (s *Server) labEvents(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var last *Lab
	s.stream(w, r, func(ctx context.Context, buf *bytes.Buffer) error {
		p := s.labPage(ctx, name, last)
		if p.Lab == nil {
			return pages.ExecuteTemplate(buf, "nolab", p)
		}
		if p.Lab.Down == "" || last == nil {
			last = p.Lab
		}
		seen := p.Lab.Seen
		p.Lab.Seen = time.Time{} // not a change by itself
		err := pages.ExecuteTemplate(buf, "labbody", p.Lab)
		p.Lab.Seen = seen
		return err
	})
}

// console serves a machine's whole serial log.
func (s *Server) console(w http.ResponseWriter, r *http.Request) {
	name, machine := r.PathValue("name"), r.PathValue("machine")
	if err := state.CheckName(name); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st, err := state.Load(state.Dir(s.Root, name))
	if err != nil || st.Lab == nil {
		http.Error(w, fmt.Sprintf("no lab %s is up", name), http.StatusNotFound)
		return
	}
	if _, _, err := st.Lab.Machine(machine); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	http.ServeFile(w, r, filepath.Clean(st.Lab.MachineFiles(machine).SerialLog))
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log().Error("render", "page", name, "err", err)
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// stream sends a page's body as a server-sent event whenever it changes:
// the server reads the lab's files every Tick and the browser keeps one
// connection open (no polling from the page).
func (s *Server) stream(w http.ResponseWriter, r *http.Request, body func(context.Context, *bytes.Buffer) error) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	tick := time.NewTicker(cmp.Or(s.Tick, 500*time.Millisecond))
	defer tick.Stop()
	var sent []byte
	for first := true; ; first = false {
		var buf bytes.Buffer
		if err := body(r.Context(), &buf); err != nil {
			s.log().Warn("dashboard page", "path", r.URL.Path, "err", err)
			buf.Reset()
			fmt.Fprintf(&buf, "<p class=\"banner\" role=\"alert\">%s</p>", htmlEscape(err.Error()))
		}
		if first || !bytes.Equal(buf.Bytes(), sent) {
			sent = buf.Bytes()
			var ev bytes.Buffer
			ev.WriteString("event: page\n")
			for line := range bytes.Lines(sent) {
				ev.WriteString("data: ")
				ev.Write(bytes.TrimRight(line, "\n"))
				ev.WriteString("\n")
			}
			ev.WriteString("\n")
			if _, err := w.Write(ev.Bytes()); err != nil {
				return
			}
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
