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
	"net/url"
	"strconv"
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
	Events    []Event           `json:"events"` // the latest few, oldest first
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
	// Seq orders events by the boot service's own count, so that a client
	// can ask "what happened after X" without comparing its clock with the
	// boot service's. It grows by one per event and is never reused while
	// the service runs; the log's latest Seq is in the SeqHeader of
	// GET /machines (HEAD answers with the header alone).
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // boot.ipxe, ipxe, grub, ignition, cloud, generic, metadata, asset, report, firmware
	Path   string    `json:"path"`
	Status int       `json:"status"`
	Name   string    `json:"name,omitempty"`   // a report's event name (booted, installed, ...)
	Detail string    `json:"detail,omitempty"` // a report's detail, or why the request failed
	// Config names the config the served boot script tells the machine to
	// fetch next (ignition), so that a waiter knows the script alone is not
	// the whole of the machine's config. Only on ipxe and grub events.
	Config string `json:"config,omitempty"`
}

// SeqHeader is the response header of GET and HEAD /machines that carries
// the Seq of the latest event logged (0 before the first).
const SeqHeader = "Machine-Log-Seq"

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
	// KindFirmware is a boot file fetched by the firmware itself, before
	// iPXE: the EFI binary of UEFI HTTP boot (Path .../ipxe.efi, Detail
	// FirmwareDetail's "ipxe.efi over http" or "... over https").
	KindFirmware = "firmware"
)

// FirmwareDetail is the Detail of a KindFirmware event: file, and the
// protocol it went over ("http", or "https" over TLS); FirmwareProtocol
// reads the protocol back.
func FirmwareDetail(file string, tls bool) string {
	if tls {
		return file + " over https"
	}
	return file + " over http"
}

// FirmwareProtocol is the protocol a KindFirmware event's file went over,
// as its Detail (FirmwareDetail) says: "https" or "http".
func FirmwareProtocol(e Event) string {
	if strings.HasSuffix(e.Detail, " over https") {
		return "https"
	}
	return "http"
}

// Reader is anything that returns the machine log: a Client, or a fixed
// list in tests.
type Reader interface {
	Records(ctx context.Context) ([]Record, error)
}

// Client reads a boot service's machine log.
type Client struct {
	URL  string       // the boot service's base URL
	HTTP *http.Client // nil: http.DefaultClient
}

// Records fetches every record: GET {URL}/machines.
func (c *Client) Records(ctx context.Context) ([]Record, error) {
	return c.records(ctx, nil)
}

// RecordsOf fetches the records of the machine with this MAC or UUID:
// GET {URL}/machines?mac=..&uuid=.. (the boot service filters).
func (c *Client) RecordsOf(ctx context.Context, mac net.HardwareAddr, uuid string) ([]Record, error) {
	q := url.Values{}
	if len(mac) > 0 {
		q.Set("mac", mac.String())
	}
	if uuid != "" {
		q.Set("uuid", uuid)
	}
	return c.records(ctx, q)
}

// Mark returns the Seq of the latest event in the log (HEAD /machines).
func (c *Client) Mark(ctx context.Context) (uint64, error) {
	resp, err := c.get(ctx, http.MethodHead, nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	h := resp.Header.Get(SeqHeader)
	seq, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("HEAD %s: header %s is %q, not a sequence number (is it labctl's boot service?)", c.machinesURL(nil), SeqHeader, h)
	}
	return seq, nil
}

func (c *Client) records(ctx context.Context, q url.Values) ([]Record, error) {
	resp, err := c.get(ctx, http.MethodGet, q)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var rs []Record
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", c.machinesURL(q), err)
	}
	return rs, nil
}

func (c *Client) machinesURL(q url.Values) string {
	u := strings.TrimSuffix(c.URL, "/") + "/machines"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func (c *Client) get(ctx context.Context, method string, q url.Values) (*http.Response, error) {
	u := c.machinesURL(q)
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	return resp, nil
}
