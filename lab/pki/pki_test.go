package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parseCert(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueVerifiesAndIsKept(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreate(dir, "k8s")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "ca.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v, mode %v; want 0600", err, st.Mode())
	}
	node := Request{Name: "kubelet-worker1", CommonName: "system:node:worker1", Organization: []string{"system:nodes"},
		DNSNames: []string{"worker1"}, IPs: []netip.Addr{netip.MustParseAddr("10.77.5.12")}, Usages: []Usage{Client, Server}}
	pair, err := ca.Issue(node)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(pair.Cert, pair.Key); err != nil {
		t.Fatalf("issued pair does not load: %v", err)
	}
	cert := parseCert(t, pair.Cert)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "worker1", KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			t.Errorf("verify for usage %v: %v", u, err)
		}
	}
	if cert.Subject.CommonName != "system:node:worker1" || cert.Subject.Organization[0] != "system:nodes" {
		t.Errorf("subject = %v", cert.Subject)
	}
	if cert.VerifyHostname("10.77.5.12") != nil {
		t.Error("certificate lacks its IP SAN")
	}

	// The same request again, from a CA reopened from disk: the same pair.
	ca2, err := LoadOrCreate(dir, "k8s")
	if err != nil {
		t.Fatal(err)
	}
	again, err := ca2.Issue(node)
	if err != nil || string(again.Cert) != string(pair.Cert) {
		t.Fatalf("reissue of an unchanged request made a new certificate (err %v)", err)
	}
	// A changed name makes a new certificate.
	node.CommonName = "system:node:worker2"
	other, err := ca2.Issue(node)
	if err != nil || parseCert(t, other.Cert).Subject.CommonName != "system:node:worker2" {
		t.Fatalf("changed request kept the old certificate (err %v)", err)
	}
}

func TestIssueRefusesBadRequests(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir(), "k8s")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"path in name", Request{Name: "../x", CommonName: "x", Usages: []Usage{Client}}, `certificate name "../x"`},
		{"no common name or alternative name", Request{Name: "x", Usages: []Usage{Client}}, "certificate x: needs a common name or alternative names, and a usage"},
		{"no usage", Request{Name: "x", CommonName: "x"}, "certificate x: needs a common name or alternative names, and a usage"},
		{"bad usage", Request{Name: "x", CommonName: "x", Usages: []Usage{"peer"}}, `certificate x: usage "peer" is neither client nor server`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ca.Issue(tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// etcd 3.4's gRPC proxy refuses a certificate with a common name: an empty
// subject with alternative names is a valid certificate (RFC 5280 4.2.1.6).
func TestIssueWithoutCommonName(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir(), "etcd")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue(Request{Name: "proxy", DNSNames: []string{"node4"}, Usages: []Usage{Server, Client}})
	if err != nil {
		t.Fatal(err)
	}
	c := parseCert(t, pair.Cert)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := c.Verify(x509.VerifyOptions{DNSName: "node4", Roots: pool}); err != nil || c.Subject.CommonName != "" {
		t.Fatalf("certificate with subject %q: %v", c.Subject, err)
	}
}

func TestCorruptCAIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.key"), []byte("junk"), 0o600)
	_, err := LoadOrCreate(dir, "k8s")
	if err == nil || !strings.Contains(err.Error(), "ca.crt: not PEM") {
		t.Fatalf("err = %v, want ca.crt: not PEM", err)
	}
}
