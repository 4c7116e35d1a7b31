package bootsvc

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics live in a registry of the Server's own (no global registry), so
// that two servers in one process (tests) count separately.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	matches      *prometheus.CounterVec
	renderErrors *prometheus.CounterVec
	reloads      *prometheus.CounterVec
	groups       prometheus.Gauge
	profiles     prometheus.Gauge
	byGroup      sync.Map // group ID → its matches counter, resolved once
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labctl_bootsvc_requests_total", Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "labctl_bootsvc_request_duration_seconds", Help: "Time to answer, by endpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1, 10},
		}, []string{"endpoint"}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labctl_bootsvc_group_matches_total", Help: "Requests that selected each group.",
		}, []string{"group"}),
		renderErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labctl_bootsvc_render_errors_total", Help: "Templates or configs that failed to render or validate.",
		}, []string{"endpoint", "template"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labctl_bootsvc_reloads_total", Help: "Data directory reloads by result (ok, error).",
		}, []string{"result"}),
		groups:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "labctl_bootsvc_groups", Help: "Groups loaded."}),
		profiles: prometheus.NewGauge(prometheus.GaugeOpts{Name: "labctl_bootsvc_profiles", Help: "Profiles loaded."}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.matches, m.renderErrors, m.reloads, m.groups, m.profiles,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) setLoaded(st *state) {
	m.groups.Set(float64(st.index.files.len()))
	m.profiles.Set(float64(len(st.profiles)))
}

// endpointMetrics are one endpoint's series, resolved once rather than by a
// label lookup (hashing the values) on every request.
type endpointMetrics struct {
	name     string
	requests *prometheus.CounterVec
	duration prometheus.Observer
	byCode   sync.Map // status code → prometheus.Counter; the server's own codes, a handful
}

func (m *metrics) endpoint(name string) *endpointMetrics {
	return &endpointMetrics{name: name, requests: m.requests, duration: m.duration.WithLabelValues(name)}
}

func (e *endpointMetrics) observe(code int, took time.Duration) {
	c, ok := e.byCode.Load(code)
	if !ok {
		c, _ = e.byCode.LoadOrStore(code, e.requests.WithLabelValues(e.name, strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
	e.duration.Observe(took.Seconds())
}

// matched counts a request that selected group id.
func (m *metrics) matched(id string) {
	c, ok := m.byGroup.Load(id)
	if !ok {
		c, _ = m.byGroup.LoadOrStore(id, m.matches.WithLabelValues(id))
	}
	c.(prometheus.Counter).Inc()
}
