package bootsvc

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
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

// routes maps each endpoint to its handler, wrapped in the per-request
// instrumentation (request log, metrics, machine log) every endpoint shares.
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
	if s.firmware != nil {
		handle("GET /efi/{mac}/{file}", "efi", bootlog.KindFirmware, http.HandlerFunc(s.serveEFI))
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

// infoFrom returns the reqInfo that instrument keeps for the request w
// answers. Handlers reach it through their writer, not the request's
// context: a context value costs a copy of the request.
func infoFrom(w http.ResponseWriter) *reqInfo {
	if c, ok := w.(interface{ requestInfo() *reqInfo }); ok {
		return c.requestInfo()
	}
	return &reqInfo{} // not under instrument: nobody reads it
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
		next.ServeHTTP(rq, r)
		if rq.status == 0 {
			rq.status = http.StatusOK
		}
		end := time.Now()
		elapsed := end.Sub(start)
		em.observe(rq.status, elapsed)

		ri := &rq.info
		ip, _, _ := net.SplitHostPort(r.RemoteAddr)
		if kind != "" {
			labels := ri.labels
			if kind == bootlog.KindReport {
				labels = nil // event= and detail= describe the report, not the machine
			}
			s.machines.record(sighting{
				ip: ip, labels: labels, mac: ri.labels["mac"], uuid: ri.labels["uuid"],
				group: ri.group, profile: ri.profile,
				event: bootlog.Event{Time: start.UTC(), Kind: kind, Path: r.URL.Path, Status: rq.status, Name: ri.name, Detail: cmp.Or(ri.detail, ri.err), Config: ri.config},
			})
		}
		if h := s.log.Handler(); h.Enabled(r.Context(), level) {
			l := requestLog{time: end, level: level, method: r.Method, path: r.URL.Path, status: rq.status, took: elapsed, remote: ip, info: ri}
			l.write(r.Context(), h)
		}
	})
}

// instrumented is what instrument keeps per request.
type instrumented struct {
	statusWriter
	info reqInfo
}

func (w *instrumented) requestInfo() *reqInfo { return &w.info }

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
func fail(w http.ResponseWriter, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	infoFrom(w).err = msg
	http.Error(w, msg, code)
}

// labelString is labels as sorted k=v pairs, for errors and the request
// line of a Logger not made by NewLogger.
func labelString(labels map[string]string) string {
	return string(appendLabels(nil, labels))
}

// appendLabels appends labels as sorted k=v pairs, separated by commas.
func appendLabels(b []byte, labels map[string]string) []byte {
	var room [16]string // iPXE sends six labels: the keys stay on the stack
	keys := room[:0]
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, labels[k]...)
	}
	return b
}
