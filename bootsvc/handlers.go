// The endpoints: selection of a group and profile, then each kind of
// answer (boot scripts, templates, metadata, reports).

package bootsvc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
)

// selectGroup parses the labels and picks the group; on failure it has
// answered (400 for bad labels, 404 for no match).
func (s *Server) selectGroup(w http.ResponseWriter, r *http.Request) (*state, *Group, bool) {
	ri := infoFrom(w)
	labels, err := parseLabels(r.URL.RawQuery)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad labels: %v", err)
		return nil, nil, false
	}
	ri.labels = labels
	st := s.state.Load()
	g, ok := st.index.selectGroup(labels)
	if !ok {
		fail(w, http.StatusNotFound, "no group matches labels {%s}", labelString(labels))
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
		fail(w, http.StatusInternalServerError, "group %s (%s) names profile %q, which does not exist", g.ID, g.file, g.Profile)
		return nil, nil, nil, false
	}
	infoFrom(w).profile = p.ID
	return st, g, p, true
}

func (s *Server) serveBootIPXE(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		// Labels are optional here; when given, they must be good, and
		// they tell which machine this is.
		labels, err := parseLabels(r.URL.RawQuery)
		if err != nil {
			fail(w, http.StatusBadRequest, "bad labels: %v", err)
			return
		}
		infoFrom(w).labels = labels
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
		fail(w, http.StatusInternalServerError, "profile %s (%s) has no boot.kernel", p.ID, p.file)
		return
	}
	if p.IgnitionID != "" {
		infoFrom(w).config = bootlog.KindIgnition
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
	rendered, err := execTemplate(t, templateData(g, infoFrom(w).labels, r.URL.RawQuery))
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
	out, err := execTemplate(t, templateData(g, infoFrom(w).labels, r.URL.RawQuery))
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
		fail(w, http.StatusNotFound, "profile %s (%s) has no %s_id", p.ID, p.file, kind)
		return "", false
	}
	return kind + "/" + id, true
}

func (s *Server) renderFailed(w http.ResponseWriter, r *http.Request, key string, err error) {
	s.metrics.renderErrors.WithLabelValues(strings.TrimPrefix(r.URL.Path, "/"), key).Inc()
	fail(w, http.StatusInternalServerError, "%v", err)
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	_, g, ok := s.selectGroup(w, r)
	if !ok {
		return
	}
	var buf bytes.Buffer
	renderEnv(&buf, templateData(g, infoFrom(w).labels, r.URL.RawQuery))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(buf.Bytes())
}

// serveReport records a machine's call home: GET or POST
// /report?mac=..&event=NAME[&detail=TEXT]; a POST body is the detail.
func (s *Server) serveReport(w http.ResponseWriter, r *http.Request) {
	ri := infoFrom(w)
	labels, err := parseLabels(r.URL.RawQuery)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad labels: %v", err)
		return
	}
	ri.name, ri.detail = labels["event"], labels["detail"]
	if ri.name == "" {
		fail(w, http.StatusBadRequest, "report has no event= (for example event=booted)")
		return
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReportBody))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(w, http.StatusRequestEntityTooLarge, "report body is larger than %d bytes", maxReportBody)
			return
		} else if err != nil {
			fail(w, http.StatusBadRequest, "read report body: %v", err)
			return
		}
		if len(body) > 0 {
			ri.detail = string(body)
		}
	}
	ri.labels = labels
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if labels["mac"] == "" && labels["uuid"] == "" && !s.machines.knowsIP(ip) {
		fail(w, http.StatusNotFound, "no machine is known at %s: pass mac= or uuid=", ip)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
