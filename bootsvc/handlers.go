package bootsvc

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Write deadlines: configs are small and rendered in memory; a 1 GB image
// to a slow client takes a while.
const (
	configWriteTimeout = time.Minute
	assetWriteTimeout  = time.Hour
	maxReportBody      = 64 << 10
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, endpoint, kind string, h http.Handler) {
		mux.Handle(pattern, s.instrument(endpoint, kind, h))
	}
	handle("GET /{$}", "root", "", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "labctl boot service\n")
	}))
	configs := []struct {
		name, kind string
		h          http.HandlerFunc
	}{
		{"boot.ipxe", bootlog.KindBootIPXE, s.serveBootIPXE},
		{"boot.ipxe.0", bootlog.KindBootIPXE, s.serveBootIPXE}, // dnsmasq's pxe-service appends .0
		{"ipxe", bootlog.KindIPXE, s.serveIPXE},
		{"grub", bootlog.KindGRUB, s.serveGRUB},
		{"ignition", bootlog.KindIgnition, s.serveIgnition},
		{"cloud", bootlog.KindCloud, s.serveCloud},
		{"generic", bootlog.KindGeneric, s.serveGeneric},
		{"metadata", bootlog.KindMetadata, s.serveMetadata},
	}
	for _, c := range configs {
		handle("GET /"+c.name, c.name, c.kind, c.h)
		handle("GET /"+c.name+".sig", c.name+".sig", c.kind, s.signed(c.h, false))
		handle("GET /"+c.name+".asc", c.name+".asc", c.kind, s.signed(c.h, true))
	}
	if s.assets != nil {
		handle("GET /assets/", "assets", bootlog.KindAsset, http.StripPrefix("/assets", http.FileServer(rootFS{s.assets})))
	}
	handle("GET /pixiecore/v1/boot/{mac}", "pixiecore", bootlog.KindIPXE, http.HandlerFunc(s.servePixiecore))
	handle("GET /report", "report", bootlog.KindReport, http.HandlerFunc(s.serveReport))
	handle("POST /report", "report", bootlog.KindReport, http.HandlerFunc(s.serveReport))
	handle("GET /machines", "machines", "", http.HandlerFunc(s.serveMachines))
	handle("GET /healthz", "healthz", "", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	handle("GET /metrics", "metrics", "", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	handle("GET /", "unknown", "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path), http.StatusNotFound)
	}))
	return mux
}

// reqInfo is what a handler learned about a request, for the log line, the
// metrics and the machine's event list.
type reqInfo struct {
	labels         map[string]string
	group, profile string
	name, detail   string // reports
	config         string // boot scripts: the config they send the machine to next
	err            string
}

type infoKey struct{}

func infoFrom(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// instrument wraps every endpoint: write deadline, metrics, one log line,
// and the event for the machine that asked. kind "" means no machine event.
func (s *Server) instrument(endpoint, kind string, next http.Handler) http.Handler {
	timeout, level := configWriteTimeout, slog.LevelInfo
	switch kind {
	case bootlog.KindAsset:
		timeout = assetWriteTimeout
	case "":
		level = slog.LevelDebug // probes and scrapes would drown the boot log
	}
	em := s.metrics.endpoint(endpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		http.NewResponseController(w).SetWriteDeadline(start.Add(timeout))
		rq := &instrumented{statusWriter: statusWriter{ResponseWriter: w}} // one allocation for both
		sw, ri := &rq.statusWriter, &rq.info
		ctx := r.Context()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, infoKey{}, ri)))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		end := time.Now()
		elapsed := end.Sub(start)
		em.observe(sw.status, elapsed)

		ip, _, _ := net.SplitHostPort(r.RemoteAddr)
		if kind != "" {
			labels := ri.labels
			if kind == bootlog.KindReport {
				labels = nil // event= and detail= describe the report, not the machine
			}
			s.machines.record(sighting{
				ip: ip, labels: labels, mac: ri.labels["mac"], uuid: ri.labels["uuid"],
				group: ri.group, profile: ri.profile,
				event: bootlog.Event{Time: start.UTC(), Kind: kind, Path: r.URL.Path, Status: sw.status, Name: ri.name, Detail: cmp.Or(ri.detail, ri.err), Config: ri.config},
			})
		}
		if h := s.log.Handler(); h.Enabled(ctx, level) {
			// The record is made here, not by Logger.LogAttrs, which walks
			// the stack for the caller on every call (a source the request
			// log never shows).
			rec := slog.NewRecord(end, level, "http request", 0)
			rec.AddAttrs(slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", sw.status),
				slog.Duration("took", elapsed), slog.String("remote", ip))
			if ri.labels != nil {
				rec.AddAttrs(slog.String("labels", labelString(ri.labels)))
			}
			if ri.group != "" {
				rec.AddAttrs(slog.String("group", ri.group), slog.String("profile", ri.profile))
			}
			if ri.name != "" {
				rec.AddAttrs(slog.String("event", ri.name))
			}
			if ri.err != "" {
				rec.AddAttrs(slog.String("err", ri.err))
			}
			h.Handle(ctx, rec)
		}
	})
}

// instrumented is what instrument keeps per request.
type instrumented struct {
	statusWriter
	info reqInfo
}

// statusWriter records the status code. It keeps ReadFrom so that assets
// still go out with sendfile, and Unwrap for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fail answers with an error whose text tells the operator what to fix.
func fail(w http.ResponseWriter, r *http.Request, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	infoFrom(r).err = msg
	http.Error(w, msg, code)
}

// labelString is labels as sorted k=v pairs, for log lines and errors.
func labelString(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	n := 0
	for k, v := range labels {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(n)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}

// selectGroup parses the labels and picks the group; on failure it has
// answered (400 for bad labels, 404 for no match).
func (s *Server) selectGroup(w http.ResponseWriter, r *http.Request) (*state, *Group, bool) {
	ri := infoFrom(r)
	labels, err := parseLabels(r.URL.RawQuery)
	if err != nil {
		fail(w, r, http.StatusBadRequest, "bad labels: %v", err)
		return nil, nil, false
	}
	ri.labels = labels
	st := s.state.Load()
	g, ok := st.index.selectGroup(labels)
	if !ok {
		fail(w, r, http.StatusNotFound, "no group matches labels {%s}", labelString(labels))
		return nil, nil, false
	}
	ri.group, ri.profile = g.ID, g.Profile
	s.metrics.matched(g.ID)
	return st, g, true
}

// selectProfile is selectGroup plus the group's profile.
func (s *Server) selectProfile(w http.ResponseWriter, r *http.Request) (*state, *Group, *Profile, bool) {
	st, g, ok := s.selectGroup(w, r)
	if !ok {
		return nil, nil, nil, false
	}
	p := st.profiles[g.Profile]
	if p == nil {
		fail(w, r, http.StatusInternalServerError, "group %s (%s) names profile %q, which does not exist", g.ID, g.file, g.Profile)
		return nil, nil, nil, false
	}
	infoFrom(r).profile = p.ID
	return st, g, p, true
}

func (s *Server) serveBootIPXE(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		// Labels are optional here; when given, they must be good, and
		// they tell which machine this is.
		labels, err := parseLabels(r.URL.RawQuery)
		if err != nil {
			fail(w, r, http.StatusBadRequest, "bad labels: %v", err)
			return
		}
		infoFrom(r).labels = labels
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, bootstrapIPXE)
}

func (s *Server) serveIPXE(w http.ResponseWriter, r *http.Request) {
	s.serveBoot(w, r, renderIPXE)
}

func (s *Server) serveGRUB(w http.ResponseWriter, r *http.Request) {
	s.serveBoot(w, r, renderGRUB)
}

func (s *Server) serveBoot(w http.ResponseWriter, r *http.Request, render func(*bytes.Buffer, Boot)) {
	_, _, p, ok := s.selectProfile(w, r)
	if !ok {
		return
	}
	if p.Boot.Kernel == "" {
		fail(w, r, http.StatusInternalServerError, "profile %s (%s) has no boot.kernel", p.ID, p.file)
		return
	}
	if p.IgnitionID != "" {
		infoFrom(r).config = bootlog.KindIgnition
	}
	buf := s.bufs.Get().(*bytes.Buffer)
	defer s.bufs.Put(buf)
	buf.Reset()
	render(buf, p.Boot)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(buf.Bytes())
}

func (s *Server) serveIgnition(w http.ResponseWriter, r *http.Request) {
	st, g, p, ok := s.selectProfile(w, r)
	if !ok {
		return
	}
	key, ok := templateKey(w, r, p, kindIgnition, p.IgnitionID)
	if !ok {
		return
	}
	if raw, ok := st.rawIgnition[key]; ok {
		w.Header().Set("Content-Type", "application/json")
		w.Write(raw)
		return
	}
	t := st.templates[key]
	if t == nil {
		s.renderFailed(w, r, key, fmt.Errorf("profile %s (%s) names %s, which does not exist", p.ID, p.file, key))
		return
	}
	rendered, err := execTemplate(t, templateData(g, infoFrom(r).labels, r.URL.RawQuery))
	if err != nil {
		s.renderFailed(w, r, key, err)
		return
	}
	out, rpt, err := s.butane.translate(key, rendered)
	if err != nil {
		s.renderFailed(w, r, key, err)
		return
	}
	if len(rpt.Entries) > 0 {
		s.log.Warn("Butane translation warnings", "template", key, "report", strings.TrimSpace(rpt.String()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func (s *Server) serveCloud(w http.ResponseWriter, r *http.Request) {
	s.serveTemplate(w, r, kindCloud, func(p *Profile) string { return p.CloudID })
}

func (s *Server) serveGeneric(w http.ResponseWriter, r *http.Request) {
	s.serveTemplate(w, r, kindGeneric, func(p *Profile) string { return p.GenericID })
}

func (s *Server) serveTemplate(w http.ResponseWriter, r *http.Request, kind string, id func(*Profile) string) {
	st, g, p, ok := s.selectProfile(w, r)
	if !ok {
		return
	}
	key, ok := templateKey(w, r, p, kind, id(p))
	if !ok {
		return
	}
	t := st.templates[key]
	if t == nil {
		s.renderFailed(w, r, key, fmt.Errorf("profile %s (%s) names %s, which does not exist", p.ID, p.file, key))
		return
	}
	out, err := execTemplate(t, templateData(g, infoFrom(r).labels, r.URL.RawQuery))
	if err != nil {
		s.renderFailed(w, r, key, err)
		return
	}
	if kind == kindCloud && !bytes.HasPrefix(out, []byte("#cloud-config")) && !bytes.HasPrefix(out, []byte("#!")) {
		s.renderFailed(w, r, key, fmt.Errorf("%s: rendered output starts with neither #cloud-config nor #! (a script)", key))
		return
	}
	// ServeContent sniffs the type and answers HEAD and Range, as matchbox does.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(out))
}

// templateKey is "kind/id", or a 404 when the profile has no such config.
func templateKey(w http.ResponseWriter, r *http.Request, p *Profile, kind, id string) (string, bool) {
	if id == "" {
		fail(w, r, http.StatusNotFound, "profile %s (%s) has no %s_id", p.ID, p.file, kind)
		return "", false
	}
	return kind + "/" + id, true
}

func (s *Server) renderFailed(w http.ResponseWriter, r *http.Request, key string, err error) {
	s.metrics.renderErrors.WithLabelValues(strings.TrimPrefix(r.URL.Path, "/"), key).Inc()
	fail(w, r, http.StatusInternalServerError, "%v", err)
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	_, g, ok := s.selectGroup(w, r)
	if !ok {
		return
	}
	var buf bytes.Buffer
	renderEnv(&buf, templateData(g, infoFrom(r).labels, r.URL.RawQuery))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(buf.Bytes())
}

// serveReport records a machine's call home: GET or POST
// /report?mac=..&event=NAME[&detail=TEXT]; a POST body is the detail.
func (s *Server) serveReport(w http.ResponseWriter, r *http.Request) {
	ri := infoFrom(r)
	labels, err := parseLabels(r.URL.RawQuery)
	if err != nil {
		fail(w, r, http.StatusBadRequest, "bad labels: %v", err)
		return
	}
	ri.name, ri.detail = labels["event"], labels["detail"]
	if ri.name == "" {
		fail(w, r, http.StatusBadRequest, "report has no event= (for example event=booted)")
		return
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReportBody))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(w, r, http.StatusRequestEntityTooLarge, "report body is larger than %d bytes", maxReportBody)
			return
		} else if err != nil {
			fail(w, r, http.StatusBadRequest, "read report body: %v", err)
			return
		}
		if len(body) > 0 {
			ri.detail = string(body)
		}
	}
	ri.labels = labels
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if labels["mac"] == "" && labels["uuid"] == "" && !s.machines.knowsIP(ip) {
		fail(w, r, http.StatusNotFound, "no machine is known at %s: pass mac= or uuid=", ip)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
