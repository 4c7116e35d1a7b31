package dashboard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/rpc"
	"github.com/labctl/labctl/lab/pki"
)

// clientPair issues a client certificate from a CA kept in dir and returns
// it ready for a TLS client.
func clientPair(t *testing.T, ca *pki.CA, name string) tls.Certificate {
	t.Helper()
	pair, err := ca.Issue(pki.Request{Name: name, CommonName: name, Usages: []pki.Usage{pki.Client}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// mutualTLS makes a CA in dir, the dashboard's server certificate for
// 127.0.0.1 and the server's TLS config as labctl dashboard loads it from
// files (--ca-file, --cert-file, --key-file).
func mutualTLS(t *testing.T, dir string) (*pki.CA, *tls.Config) {
	t.Helper()
	ca, err := pki.LoadOrCreate(dir, "dashboard")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(pki.Request{Name: "server", CommonName: "dashboard", IPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Usages: []pki.Usage{pki.Server}}); err != nil {
		t.Fatal(err)
	}
	conf, err := rpc.TLSFiles{CAFile: pki.CAFile(dir), CertFile: pki.CertFile(dir, "server"), KeyFile: pki.KeyFile(dir, "server")}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	return ca, conf
}

// Over real TLS on loopback: a client whose certificate the dashboard's CA
// signed is served; one without a certificate, or with one another CA
// signed, is refused in the handshake, before any page.
func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, conf := mutualTLS(t, filepath.Join(dir, "ca"))
	other, err := pki.LoadOrCreate(filepath.Join(dir, "other"), "other")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	newLab(t, root, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- (&Server{Root: root, TLS: conf}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	url := "https://" + ln.Addr().String() + "/labs/demo"
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		want  string // in the page, or in the refusal
	}{
		{"signed by its CA", []tls.Certificate{clientPair(t, ca, "operator")}, `data-machine="node1"`},
		{"no certificate", nil, "remote error: tls: certificate required"},
		{"signed by another CA", []tls.Certificate{clientPair(t, other, "intruder")}, "remote error: tls: unknown certificate authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The certificate is sent whoever signed it (Go's client would
			// hold back one the server's list of CAs does not name).
			offer := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if len(tc.certs) == 0 {
					return &tls.Certificate{}, nil
				}
				return &tc.certs[0], nil
			}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots, GetClientCertificate: offer}}}
			defer client.CloseIdleConnections()
			resp, err := client.Get(url)
			if err != nil {
				var op *net.OpError // the server's TLS alert, as the client reads it
				if !errors.As(err, &op) || op.Op != "remote error" || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("GET %s: %v, want %q", url, err, tc.want)
				}
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tc.want) {
				t.Errorf("GET %s: %d, want 200 with %q:\n%s", url, resp.StatusCode, tc.want, body)
			}
		})
	}
}

// Client certificates stand in for the token off loopback; TLS that does
// not require them does not. The address is only checked, never listened on.
func TestCheckOpenAddress(t *testing.T) {
	_, conf := mutualTLS(t, t.TempDir())
	serverOnly := conf.Clone()
	serverOnly.ClientAuth = tls.NoClientCert
	open := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 8090}
	for _, tc := range []struct {
		name   string
		srv    *Server
		refuse bool
	}{
		{"nothing", &Server{}, true},
		{"token", &Server{Token: "s3cret"}, false},
		{"client certificates", &Server{TLS: conf}, false},
		{"TLS without client certificates", &Server{TLS: serverOnly}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.srv.Check(open)
			var lbe *LoopbackError
			switch {
			case tc.refuse && (!errors.As(err, &lbe) || err.Error() != "dashboard on 192.0.2.10:8090: not a loopback address, so a token or client certificates are required"):
				t.Errorf("Check(%s): %v, want the refusal", open, err)
			case !tc.refuse && err != nil:
				t.Errorf("Check(%s): %v, want it allowed", open, err)
			}
			if err := tc.srv.Check(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
				t.Errorf("Check(loopback): %v", err)
			}
		})
	}
}
