package bootsvc

import (
	"bufio"
	"container/list"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/labctl/labctl/bootsvc/bootlog"
)

// Bounds on what the machine log keeps. /report and the log are
// unauthenticated, so whatever clients send, the log holds at most
// MaxMachines machines of at most MaxEvents events and maxLabelsKept
// labels each, every string clipped: about 60 KiB per machine at worst.
const (
	DefaultMaxMachines = 1024
	MaxEvents          = 64  // per machine; the oldest go first
	MaxDetail          = 512 // bytes of an event's detail (a report body is clipped to it)
	maxName            = 64  // bytes of a report's event name
	maxPath            = 128 // bytes of an event's path
	maxLabelsKept      = 16  // per machine; labels beyond these are not kept (requests may carry maxLabels)
	maxLabelKey        = 64  // bytes; a longer label is not kept
	maxLabelValue      = 256 // bytes; a longer label is not kept
)

// registry is the machine log: machines by MAC, by UUID and by the IP they
// booted from, forgetting the one seen longest ago when full.
type registry struct {
	mu     sync.Mutex
	max    int
	seq    uint64
	byID   map[string]*record
	byUUID map[string]string // uuid → id
	byIP   map[string]string // ip → id
	recent list.List         // of *record, the most recently seen first
}

// record is one machine; its events are a ring of at most MaxEvents.
type record struct {
	bootlog.Record
	head int // with a full ring, the index of the oldest event
	elem *list.Element
}

func newRegistry(maxMachines int) *registry {
	if maxMachines <= 0 {
		maxMachines = DefaultMaxMachines
	}
	return &registry{max: maxMachines, byID: map[string]*record{}, byUUID: map[string]string{}, byIP: map[string]string{}}
}

// sighting is one request to attribute to a machine.
type sighting struct {
	ip             string
	labels         map[string]string // nil for assets and reports: not a selection
	mac, uuid      string
	group, profile string
	event          bootlog.Event
}

// record attributes a request to a machine: by MAC, else by UUID, else by
// the client's IP. It reports false when no machine could be told.
func (rg *registry) record(s sighting) bool {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	m := rg.find(s)
	if m == nil {
		return false
	}
	rg.recent.MoveToFront(m.elem)
	m.LastSeen = s.event.Time
	if s.uuid != "" && m.UUID == "" {
		m.UUID = strings.Clone(s.uuid)
		rg.byUUID[m.UUID] = m.ID
	}
	keepLabels(m.Labels, s.labels)
	if h := s.labels["hostname"]; h != "" && m.Labels["hostname"] == h {
		m.Hostname = m.Labels["hostname"] // the kept copy
	}
	if s.group != "" {
		m.Group, m.Profile = s.group, s.profile
	}
	if s.ip != "" && m.IP != s.ip && (m.IP == "" || s.event.Kind == bootlog.KindIPXE || s.event.Kind == bootlog.KindBootIPXE) {
		if old := m.IP; old != "" && rg.byIP[old] == m.ID {
			delete(rg.byIP, old)
		}
		m.IP = strings.Clone(s.ip)
		rg.byIP[m.IP] = m.ID
	}
	rg.seq++
	e := s.event
	e.Seq = rg.seq
	// Clipped copies: a substring would keep the whole request line alive.
	e.Path, e.Name, e.Detail = clip(e.Path, maxPath), clip(e.Name, maxName), clip(e.Detail, MaxDetail)
	if len(m.Events) < MaxEvents {
		m.Events = append(m.Events, e)
	} else {
		m.Events[m.head] = e
		m.head = (m.head + 1) % MaxEvents
	}
	return true
}

// keepLabels merges src into dst within the bounds on labels kept: a new
// key beyond maxLabelsKept, or an oversized label, is not kept.
func keepLabels(dst, src map[string]string) {
	for k, v := range src {
		if len(k) > maxLabelKey || len(v) > maxLabelValue {
			continue
		}
		old, ok := dst[k]
		switch {
		case ok && old == v:
		case ok || len(dst) < maxLabelsKept:
			dst[strings.Clone(k)] = strings.Clone(v)
		}
	}
}

// clip returns a copy of s of at most n bytes (cut on a character boundary,
// "…" marking the cut).
func clip(s string, n int) string {
	if len(s) <= n {
		return strings.Clone(s)
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// find returns the machine a sighting belongs to, creating it when the
// request names a MAC or UUID.
func (rg *registry) find(s sighting) *record {
	switch {
	case s.mac != "":
		if m := rg.byID[s.mac]; m != nil {
			return m
		}
		if id, ok := rg.byUUID[s.uuid]; ok && s.uuid != "" {
			if m := rg.byID[id]; m != nil && m.MAC == "" {
				// First seen by UUID only: now that the MAC is known, it is the id.
				delete(rg.byID, id)
				m.ID, m.MAC = s.mac, s.mac
				rg.byID[m.ID] = m
				rg.byUUID[m.UUID] = m.ID
				if m.IP != "" {
					rg.byIP[m.IP] = m.ID
				}
				return m
			}
		}
		return rg.create(s)
	case s.uuid != "":
		if m := rg.byID[rg.byUUID[s.uuid]]; m != nil {
			return m
		}
		return rg.create(s)
	case s.ip != "":
		return rg.byID[rg.byIP[s.ip]]
	}
	return nil
}

// create adds a machine known by its MAC, else by its UUID, first
// forgetting the one seen longest ago if the log is full.
func (rg *registry) create(s sighting) *record {
	if len(rg.byID) >= rg.max {
		rg.forget(rg.recent.Back().Value.(*record))
	}
	m := &record{Record: bootlog.Record{ID: s.mac, MAC: s.mac, UUID: strings.Clone(s.uuid), Labels: map[string]string{}, FirstSeen: s.event.Time}}
	if m.ID == "" {
		m.ID = m.UUID
	}
	m.elem = rg.recent.PushFront(m)
	rg.byID[m.ID] = m
	if m.UUID != "" {
		rg.byUUID[m.UUID] = m.ID
	}
	return m
}

func (rg *registry) forget(m *record) {
	rg.recent.Remove(m.elem)
	delete(rg.byID, m.ID)
	if rg.byUUID[m.UUID] == m.ID {
		delete(rg.byUUID, m.UUID)
	}
	if rg.byIP[m.IP] == m.ID {
		delete(rg.byIP, m.IP)
	}
}

// list returns copies of the machines that keep says to (nil: every
// machine), oldest first, and the latest Seq.
func (rg *registry) list(keep func(*bootlog.Record) bool) ([]bootlog.Record, uint64) {
	rg.mu.Lock()
	var out []bootlog.Record
	for _, m := range rg.byID {
		if keep != nil && !keep(&m.Record) {
			continue
		}
		c := m.Record
		c.Labels = maps.Clone(m.Labels)
		c.Events = append(slices.Clone(m.Events[m.head:]), m.Events[:m.head]...)
		out = append(out, c)
	}
	seq := rg.seq
	rg.mu.Unlock()
	slices.SortFunc(out, func(a, b bootlog.Record) int {
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, seq
}

// knowsIP reports whether some machine booted from ip.
func (rg *registry) knowsIP(ip string) bool {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	_, ok := rg.byIP[ip]
	return ok
}

// serveMachines answers GET /machines[?mac=MAC][&uuid=UUID] with the log
// (only the machine with that MAC or UUID when given) as JSON, and its
// latest Seq in bootlog.SeqHeader; HEAD with the header alone. The JSON is
// written one machine at a time: a full log is tens of MB as text.
func (s *Server) serveMachines(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var keep func(*bootlog.Record) bool
	if q.Has("mac") || q.Has("uuid") {
		mac, err := net.ParseMAC(q.Get("mac"))
		if err != nil && q.Get("mac") != "" {
			fail(w, http.StatusBadRequest, "mac: %v", err)
			return
		}
		uuid := q.Get("uuid")
		keep = func(m *bootlog.Record) bool { return m.Is(mac, uuid) }
	}
	if r.Method == http.MethodHead {
		keep = func(*bootlog.Record) bool { return false }
	}
	ms, seq := s.machines.list(keep)
	w.Header().Set(bootlog.SeqHeader, strconv.FormatUint(seq, 10))
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		return
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	bw.WriteString("[")
	for i := range ms {
		if i > 0 {
			bw.WriteString(",")
		}
		enc.Encode(&ms[i])
	}
	bw.WriteString("]\n")
	bw.Flush()
}

// load adds the machines of a saved machine log (GET /machines' JSON) to
// an empty registry, within its bounds; a missing file adds nothing.
func (rg *registry) load(file string) error {
	raw, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var saved []bootlog.Record
	if err := json.Unmarshal(raw, &saved); err != nil {
		return err
	}
	rg.mu.Lock()
	defer rg.mu.Unlock()
	for _, r := range saved { // oldest first: the newest ends at the front
		if r.ID == "" || rg.byID[r.ID] != nil {
			continue
		}
		if len(rg.byID) >= rg.max {
			rg.forget(rg.recent.Back().Value.(*record))
		}
		if len(r.Events) > MaxEvents {
			r.Events = r.Events[len(r.Events)-MaxEvents:]
		}
		if r.Labels == nil {
			r.Labels = map[string]string{}
		}
		for _, e := range r.Events {
			rg.seq = max(rg.seq, e.Seq)
		}
		m := &record{Record: r} // events oldest first: a ring with head 0
		m.elem = rg.recent.PushFront(m)
		rg.byID[m.ID] = m
		if m.UUID != "" {
			rg.byUUID[m.UUID] = m.ID
		}
		if m.IP != "" {
			rg.byIP[m.IP] = m.ID
		}
	}
	return nil
}
