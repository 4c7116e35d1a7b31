package bootsvc

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/labctl/labctl/bootsvc/bootlog"
)

// Bounds on what the registry keeps, so that a misbehaving client cannot
// grow the server without limit.
const (
	maxMachines = 1 << 16
	maxEvents   = 1000
)

// registry remembers machines by MAC, by UUID and by the IP they booted from.
type registry struct {
	mu     sync.Mutex
	byID   map[string]*bootlog.Record
	byUUID map[string]string // uuid → id
	byIP   map[string]string // ip → id
}

func newRegistry() *registry {
	return &registry{byID: map[string]*bootlog.Record{}, byUUID: map[string]string{}, byIP: map[string]string{}}
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
	now := s.event.Time
	m.LastSeen = now
	if s.uuid != "" && m.UUID == "" {
		m.UUID = s.uuid
		rg.byUUID[s.uuid] = m.ID
	}
	for k, v := range s.labels {
		m.Labels[k] = v
	}
	if h := s.labels["hostname"]; h != "" {
		m.Hostname = h
	}
	if s.group != "" {
		m.Group, m.Profile = s.group, s.profile
	}
	if s.ip != "" && (m.IP == "" || s.event.Kind == bootlog.KindIPXE || s.event.Kind == bootlog.KindBootIPXE) {
		if old := m.IP; old != "" && rg.byIP[old] == m.ID {
			delete(rg.byIP, old)
		}
		m.IP = s.ip
		rg.byIP[s.ip] = m.ID
	}
	if len(m.Events) >= maxEvents {
		m.Events = slices.Delete(m.Events, 0, len(m.Events)-maxEvents+1)
	}
	m.Events = append(m.Events, s.event)
	return true
}

// find returns the machine a sighting belongs to, creating it when the
// request names a MAC or UUID.
func (rg *registry) find(s sighting) *bootlog.Record {
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
				rg.byUUID[s.uuid] = m.ID
				for ip, mid := range rg.byIP {
					if mid == id {
						rg.byIP[ip] = m.ID
					}
				}
				return m
			}
		}
		return rg.create(s.mac, s)
	case s.uuid != "":
		if m := rg.byID[rg.byUUID[s.uuid]]; m != nil {
			return m
		}
		return rg.create(s.uuid, s)
	case s.ip != "":
		return rg.byID[rg.byIP[s.ip]]
	}
	return nil
}

func (rg *registry) create(id string, s sighting) *bootlog.Record {
	if len(rg.byID) >= maxMachines {
		return nil
	}
	m := &bootlog.Record{ID: id, MAC: s.mac, UUID: s.uuid, Labels: map[string]string{}, FirstSeen: s.event.Time}
	rg.byID[id] = m
	if s.uuid != "" {
		rg.byUUID[s.uuid] = id
	}
	return m
}

// list returns copies of every machine, oldest first.
func (rg *registry) list() []bootlog.Record {
	rg.mu.Lock()
	out := make([]bootlog.Record, 0, len(rg.byID))
	for _, m := range rg.byID {
		c := *m
		c.Labels = maps.Clone(m.Labels)
		c.Events = slices.Clone(m.Events)
		out = append(out, c)
	}
	rg.mu.Unlock()
	slices.SortFunc(out, func(a, b bootlog.Record) int {
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// knowsIP reports whether some machine booted from ip.
func (rg *registry) knowsIP(ip string) bool {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	_, ok := rg.byIP[ip]
	return ok
}
