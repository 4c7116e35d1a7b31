// Package fetchtest gives tests a release mirror on loopback and OpenPGP
// keys made on the spot, so that fetching and verification run for real
// without the internet.
package fetchtest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// keyConfig makes small, fast keys: the tests prove the checks, not RSA.
var keyConfig = &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}

// Key is a signing key made for one test.
type Key struct{ entity *openpgp.Entity }

// NewKey makes a signing key.
func NewKey(t testing.TB, name string) *Key {
	t.Helper()
	e, err := openpgp.NewEntity(name, "test key", name+"@labctl.test", keyConfig)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{entity: e}
}

// Public is the armored public key, as a key file holds it.
func (k *Key) Public(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.entity.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

// Sign returns a binary detached signature of data, as Flatcar and Fedora
// publish them.
func (k *Key) Sign(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := openpgp.DetachSign(&buf, k.entity, bytes.NewReader(data), keyConfig); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Request is one request the mirror saw.
type Request struct {
	Path  string
	Range string
}

// Mirror serves Files by path, with Range support as real mirrors have.
type Mirror struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	requests []Request
	// cut, when set for a path, makes the next GET of it send only that
	// many bytes of a full-length response and drop the connection.
	cut map[string]int
}

// NewMirror serves files (path → content) until the test ends.
func NewMirror(t testing.TB, files map[string][]byte) *Mirror {
	m := &Mirror{files: files, cut: map[string]int{}}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

// Set replaces (or with nil content removes) a file.
func (m *Mirror) Set(path string, content []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if content == nil {
		delete(m.files, path)
		return
	}
	m.files[path] = content
}

// CutNext makes the next GET of path stop after n bytes.
func (m *Mirror) CutNext(path string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cut[path] = n
}

// Requests returns what the mirror was asked for, in order.
func (m *Mirror) Requests() []Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Request(nil), m.requests...)
}

func (m *Mirror) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.requests = append(m.requests, Request{Path: r.URL.Path, Range: r.Header.Get("Range")})
	body, ok := m.files[r.URL.Path]
	cut, cutting := m.cut[r.URL.Path]
	delete(m.cut, r.URL.Path)
	m.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if cutting {
		// Promise the whole file, send part of it, hang up: what a dropped
		// connection looks like to the client.
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n")
		buf.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
		buf.Write(body[:cut])
		buf.Flush()
		return
	}
	http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(body))
}
