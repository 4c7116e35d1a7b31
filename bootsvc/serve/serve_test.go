package serve

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/internal/testenv"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The assembly serves, reloads on SIGHUP, logs requests through the
// batched writer and stops when its context ends, flushing that log.
func TestServeReloadAndStop(t *testing.T) {
	dir := t.TempDir()
	for rel, body := range map[string]string{
		"profiles/p.json": `{"id":"p","boot":{"kernel":"/k"}}`,
		"groups/a.json":   `{"id":"a","profile":"p","selector":{"mac":"52:54:00:00:00:01"}}`,
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755)
		os.WriteFile(filepath.Join(dir, rel), []byte(body), 0o644)
	}
	var events, requests testenv.Buffer
	o := Options{Address: "127.0.0.1:0", RequestLog: &requests, Log: slog.New(slog.NewTextHandler(&events, nil))}
	if _, err := Start(o); err == nil || !strings.Contains(err.Error(), "no data directory") {
		t.Fatalf("Start without data = %v, want refused", err)
	}
	o.Boot.DataDir = dir
	svc, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	url := "http://" + svc.Addr().String()
	get := func(path string) int {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/ipxe?mac=52:54:00:00:00:02"); code != http.StatusNotFound {
		t.Fatalf("/ipxe for an unknown machine = %d", code)
	}
	os.WriteFile(filepath.Join(dir, "groups/b.json"), []byte(`{"id":"b","profile":"p","selector":{"mac":"52:54:00:00:00:02"}}`), 0o644)
	waitFor(t, "the SIGHUP handler", func() bool { return strings.Contains(events.String(), "boot service listening") })
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "reload on SIGHUP", func() bool { return strings.Contains(events.String(), "reloaded data directory on SIGHUP") })
	if code := get("/ipxe?mac=52:54:00:00:00:02"); code != http.StatusOK {
		t.Fatalf("/ipxe after SIGHUP = %d, want 200", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
	if !strings.Contains(requests.String(), "52:54:00:00:00:02") {
		t.Errorf("request log not flushed at stop: %q", requests.String())
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("still answering after stop")
	}
}

// A boot service given more addresses (a lab's IPv6 gateway) answers on
// each with the same data and log, and stops listening on all of them.
func TestServeOnEveryAddress(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "profiles"), 0o755)
	os.MkdirAll(filepath.Join(dir, "groups"), 0o755)
	os.WriteFile(filepath.Join(dir, "profiles/p.json"), []byte(`{"id":"p","boot":{"kernel":"/k"}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "groups/a.json"), []byte(`{"id":"a","profile":"p"}`), 0o644)
	var requests testenv.Buffer
	svc, err := Start(Options{Address: "127.0.0.1:0", Addresses: []string{"[::1]:0"}, Boot: bootsvc.Config{DataDir: dir}, RequestLog: &requests})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var urls []string
	for _, ln := range svc.ln.(*listeners).lns {
		urls = append(urls, "http://"+ln.Addr().String())
	}
	if len(urls) != 2 || !strings.HasPrefix(urls[1], "http://[::1]:") {
		t.Fatalf("listening on %v, want 127.0.0.1 and [::1]", urls)
	}
	for _, u := range urls {
		resp, err := http.Get(u + "/ipxe?mac=52:54:00:00:00:01")
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s/ipxe = %d, want 200", u, resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
	if !strings.Contains(requests.String(), "remote=::1") || !strings.Contains(requests.String(), "remote=127.0.0.1") {
		t.Errorf("request log lacks a request from ::1 and one from 127.0.0.1: %q", requests.String())
	}
	for _, u := range urls {
		if _, err := http.Get(u + "/healthz"); err == nil {
			t.Errorf("%s still answers after stop", u)
		}
	}
}

// rsaPair writes a self-signed RSA certificate for 127.0.0.1 and its key
// (as lab/pki's SelfSignedRSA makes for a lab) and returns their files and
// a pool that trusts it.
func rsaPair(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "https boot"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// The HTTPS listener serves UEFI HTTPS boot to a client that offers only
// what Debian's OVMF offers (TLS 1.2, RSA key exchange, AES-GCM), with the
// same handlers and log as plain HTTP, and the firmware's fetch is
// recorded as over https; a certificate that cannot be read is refused
// before anything listens.
func TestServeHTTPSBoot(t *testing.T) {
	dir, fw := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(dir, "profiles"), 0o755)
	os.MkdirAll(filepath.Join(dir, "groups"), 0o755)
	os.WriteFile(filepath.Join(fw, "ipxe.efi"), []byte("MZ efi binary"), 0o644)
	certFile, keyFile, pool := rsaPair(t)
	boot := bootsvc.Config{DataDir: dir, FirmwareDir: fw}
	if _, err := Start(Options{Address: "127.0.0.1:0", TLS: &TLS{Address: "127.0.0.1:0", CertFile: certFile + ".missing", KeyFile: keyFile}, Boot: boot}); err == nil || !strings.Contains(err.Error(), "boot service: HTTPS certificate: ") {
		t.Fatalf("Start with a missing certificate = %v, want the HTTPS certificate refused", err)
	}
	var requests testenv.Buffer
	svc, err := Start(Options{Address: "127.0.0.1:0", TLS: &TLS{Address: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}, Boot: boot, RequestLog: &requests})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	lns := svc.ln.(*listeners).lns
	ovmf := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool,
		MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}}}
	for _, tc := range []struct {
		client *http.Client
		url    string
	}{
		{ovmf, "https://" + lns[1].Addr().String()},
		{http.DefaultClient, "http://" + lns[0].Addr().String()},
	} {
		resp, err := tc.client.Get(tc.url + "/efi/52-54-00-00-00-01/ipxe.efi")
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "MZ efi binary" {
			t.Errorf("GET %s = %d %q, want 200 and the binary", tc.url, resp.StatusCode, body)
		}
	}
	var details []string
	for _, r := range svc.Server().Machines() {
		for _, e := range r.Events {
			details = append(details, e.Detail)
		}
	}
	if strings.Join(details, "; ") != "ipxe.efi over https; ipxe.efi over http" {
		t.Errorf("machine log %q, want ipxe.efi over https, then over http", details)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
	if n := strings.Count(requests.String(), "/efi/52-54-00-00-00-01/ipxe.efi"); n != 2 {
		t.Errorf("request log has %d fetches of ipxe.efi, want 2:\n%s", n, requests.String())
	}
}
