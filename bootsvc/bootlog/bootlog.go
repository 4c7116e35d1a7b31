// Package bootlog is the boot service's machine log as its readers see it:
// the records GET /machines returns, and a client that fetches them. Readers
// (progress, checks, reprovisioning) import this, not the server.
package bootlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Record is what the boot service knows about one machine that asked it for
// something.
type Record struct {
	ID        string            `json:"id"` // the MAC if known, else the UUID
	MAC       string            `json:"mac"`
	UUID      string            `json:"uuid"`
	Hostname  string            `json:"hostname"`
	IP        string            `json:"ip"` // where it last fetched /ipxe or /boot.ipxe from
	Labels    map[string]string `json:"labels"`
	Group     string            `json:"group"`
	Profile   string            `json:"profile"`
	FirstSeen time.Time         `json:"first_seen"`
	LastSeen  time.Time         `json:"last_seen"`
	Events    []Event           `json:"events"`
}

// Is reports whether the record is of the machine with this MAC or this
// SMBIOS UUID, in any of their spellings; an empty one matches nothing.
func (r *Record) Is(mac net.HardwareAddr, uuid string) bool {
	if rec, err := net.ParseMAC(r.MAC); err == nil && len(mac) > 0 && bytes.Equal(rec, mac) {
		return true
	}
	return r.UUID != "" && strings.EqualFold(r.UUID, uuid)
}

// Reported says whether the machine called home (GET or POST /report) at
// least once; a nil record has not.
func (r *Record) Reported() bool {
	if r == nil {
		return false
	}
	for _, e := range r.Events {
		if e.Kind == KindReport {
			return true
		}
	}
	return false
}

// Find returns the first record in rs of the machine with this MAC or
// SMBIOS UUID (see Record.Is), nil if there is none.
func Find(rs []Record, mac net.HardwareAddr, uuid string) *Record {
	for i := range rs {
		if rs[i].Is(mac, uuid) {
			return &rs[i]
		}
	}
	return nil
}

// Event is one request a machine made.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // boot.ipxe, ipxe, grub, ignition, cloud, generic, metadata, asset, report
	Path   string    `json:"path"`
	Status int       `json:"status"`
	Name   string    `json:"name,omitempty"` // a report's event name (booted, installed, ...)
	Detail string    `json:"detail,omitempty"`
}

// Event kinds.
const (
	KindBootIPXE = "boot.ipxe"
	KindIPXE     = "ipxe"
	KindGRUB     = "grub"
	KindIgnition = "ignition"
	KindCloud    = "cloud"
	KindGeneric  = "generic"
	KindMetadata = "metadata"
	KindAsset    = "asset"
	KindReport   = "report"
)

// Reader is anything that returns the machine log: a Client, or a fixed
// list in tests.
type Reader interface {
	Records(ctx context.Context) ([]Record, error)
}

// Client fetches a boot service's machine log.
type Client struct {
	URL  string       // the boot service's base URL
	HTTP *http.Client // nil: http.DefaultClient
}

// Records fetches GET {URL}/machines.
func (c *Client) Records(ctx context.Context) ([]Record, error) {
	u := strings.TrimSuffix(c.URL, "/") + "/machines"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var rs []Record
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", u, err)
	}
	return rs, nil
}
