package pki

import (
	"bytes"
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
		{"the CA's name", Request{Name: "ca", CommonName: "x", Usages: []Usage{Client}}, `certificate name "ca" is the lab CA's own file`},
		{"a service's name", Request{Name: "labctl-bmc", CommonName: "x", Usages: []Usage{Server}}, `certificate name "labctl-bmc": names beginning "labctl-" are the lab's own services'`},
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

// The lab's own services hold certificates from the one lab CA: the API's
// and the BMCs' servers for the gateway address, the API's client for client
// authentication; a second call keeps them (a restarted lab process serves
// the same certificates, and clients keep trusting the same CA file).
func TestIssueOwn(t *testing.T) {
	dir := t.TempDir()
	gw := netip.MustParseAddr("10.77.3.1")
	ca, err := LoadOrCreate(dir, "pxe-smoke")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.IssueOwn(gw); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(CAFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	first := map[string][]byte{}
	for _, tc := range []struct {
		name  string
		usage x509.ExtKeyUsage
		host  string
	}{
		{APIServer, x509.ExtKeyUsageServerAuth, "10.77.3.1"},
		{BMC, x509.ExtKeyUsageServerAuth, "10.77.3.1"},
		{APIClient, x509.ExtKeyUsageClientAuth, ""},
	} {
		pair, err := tls.LoadX509KeyPair(CertFile(dir, tc.name), KeyFile(dir, tc.name))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c, _ := x509.ParseCertificate(pair.Certificate[0])
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.host, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
			t.Errorf("%s does not verify against %s: %v", tc.name, CAFile(dir), err)
		}
		if st, err := os.Stat(KeyFile(dir, tc.name)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s key: %v, mode %v; want 0600", tc.name, err, st.Mode())
		}
		first[tc.name], _ = os.ReadFile(CertFile(dir, tc.name))
	}
	ca2, err := LoadOrCreate(dir, "pxe-smoke")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca2.IssueOwn(gw); err != nil {
		t.Fatal(err)
	}
	for name, was := range first {
		if now, _ := os.ReadFile(CertFile(dir, name)); string(now) != string(was) {
			t.Errorf("%s was issued again; want it kept", name)
		}
	}
	if now, _ := os.ReadFile(CAFile(dir)); string(now) != string(caPEM) {
		t.Error("the lab CA was made again; want one CA for the lab's life")
	}
}

// IssueHTTPSBoot makes a self-signed RSA certificate (Debian's OVMF has no
// elliptic curves) that verifies for the gateway against itself, kept
// across calls, and the EFI signature list of the same certificate.
func TestIssueHTTPSBoot(t *testing.T) {
	dir := t.TempDir()
	gw := netip.MustParseAddr("10.77.30.1")
	if err := IssueHTTPSBoot(dir, gw); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(CertFile(dir, HTTPSBoot), KeyFile(dir, HTTPSBoot))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(pair.Certificate[0])
	if c.PublicKeyAlgorithm != x509.RSA || c.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("key %v signed %v, want RSA both", c.PublicKeyAlgorithm, c.SignatureAlgorithm)
	}
	roots := x509.NewCertPool()
	roots.AddCert(c)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "10.77.30.1", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("does not verify for the gateway against itself: %v", err)
	}
	esl, err := os.ReadFile(HTTPSBootCACerts(dir))
	if err != nil || !bytes.HasSuffix(esl, c.Raw) {
		t.Errorf("%s: %v; want a signature list ending in the certificate", HTTPSBootCACerts(dir), err)
	}
	first, _ := os.ReadFile(CertFile(dir, HTTPSBoot))
	if err := IssueHTTPSBoot(dir, gw); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(CertFile(dir, HTTPSBoot)); !bytes.Equal(again, first) {
		t.Error("a second call made a new certificate; want the lab's one kept")
	}
}
