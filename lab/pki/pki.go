// Package pki is a lab's certificate authority: a CA whose key stays in the
// lab's directory on the host, and the certificates it issues to the lab's
// components, machines and users, kept beside it until `labctl down`.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"time"
)

// Validity of everything the lab CA signs: a lab lives hours, not years,
// but a kept lab should not expire under its user.
const Validity = 365 * 24 * time.Hour

// CA is a lab's certificate authority.
type CA struct {
	Dir     string // holds ca.crt, ca.key and the issued pairs
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// KeyPair is an issued certificate and its private key, PEM encoded.
type KeyPair struct {
	Cert []byte
	Key  []byte
}

// Usage says what a certificate authenticates.
type Usage string

const (
	Client Usage = "client"
	Server Usage = "server"
)

// Request is a certificate to issue.
type Request struct {
	Name         string // file name stem in Dir, e.g. "kubelet-worker1"
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []netip.Addr
	Usages       []Usage
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// LoadOrCreate opens the CA kept in dir, creating it (key mode 0600) on
// first use, so a lab keeps one CA for its life.
func LoadOrCreate(dir, labName string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki directory: %w", err)
	}
	certFile, keyFile := CertFile(dir, caName), KeyFile(dir, caName)
	if _, err := os.Stat(certFile); errors.Is(err, fs.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          serial(),
			Subject:               pkix.Name{CommonName: labName + " lab CA", Organization: []string{"labctl"}},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(Validity),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLenZero:        true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			return nil, fmt.Errorf("create lab CA: %w", err)
		}
		if err := writePair(certFile, keyFile, der, key); err != nil {
			return nil, err
		}
	}
	pair, err := readPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("lab CA: %w", err)
	}
	cert, key, err := parse(pair)
	if err != nil {
		return nil, fmt.Errorf("lab CA %s: %w", certFile, err)
	}
	return &CA{Dir: dir, Cert: cert, CertPEM: pair.Cert, key: key}, nil
}

// Issue returns the key pair for r, signing a new one unless Dir already
// holds one with the same subject, names and usages signed by this CA. It
// refuses the names of the CA and of the lab's own services (Reserved).
func (ca *CA) Issue(r Request) (KeyPair, error) {
	if why := Reserved(r.Name); why != "" {
		return KeyPair{}, fmt.Errorf("certificate name %s", why)
	}
	return ca.issue(r)
}

func (ca *CA) issue(r Request) (KeyPair, error) {
	if !nameRE.MatchString(r.Name) {
		return KeyPair{}, fmt.Errorf("certificate name %q: lower-case letters, digits, '.', '_', '-'", r.Name)
	}
	// An empty subject is valid with alternative names (etcd 3.4's gRPC
	// proxy insists on it).
	if (r.CommonName == "" && len(r.DNSNames)+len(r.IPs) == 0) || len(r.Usages) == 0 {
		return KeyPair{}, fmt.Errorf("certificate %s: needs a common name or alternative names, and a usage", r.Name)
	}
	tmpl := &x509.Certificate{
		Subject:  pkix.Name{CommonName: r.CommonName, Organization: r.Organization},
		DNSNames: r.DNSNames,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	for _, ip := range r.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	for _, u := range r.Usages {
		switch u {
		case Client:
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		case Server:
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		default:
			return KeyPair{}, fmt.Errorf("certificate %s: usage %q is neither client nor server", r.Name, u)
		}
	}
	certFile, keyFile := CertFile(ca.Dir, r.Name), KeyFile(ca.Dir, r.Name)
	if pair, err := readPair(certFile, keyFile); err == nil {
		if cert, _, err := parse(pair); err == nil && same(cert, tmpl) && cert.CheckSignatureFrom(ca.Cert) == nil {
			return pair, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(Validity)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("certificate %s: %w", r.Name, err)
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return KeyPair{}, err
	}
	return readPair(certFile, keyFile)
}

// same reports whether an issued certificate says what tmpl asks for.
func same(c, tmpl *x509.Certificate) bool {
	ips := func(l []net.IP) []string {
		var s []string
		for _, ip := range l {
			s = append(s, ip.String())
		}
		return s
	}
	return c.Subject.CommonName == tmpl.Subject.CommonName &&
		slices.Equal(c.Subject.Organization, tmpl.Subject.Organization) &&
		slices.Equal(c.DNSNames, tmpl.DNSNames) &&
		slices.Equal(ips(c.IPAddresses), ips(tmpl.IPAddresses)) &&
		slices.Equal(c.ExtKeyUsage, tmpl.ExtKeyUsage) &&
		time.Until(c.NotAfter) > Validity/2
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func writePair(certFile, keyFile string, der []byte, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", keyFile, err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", certFile, err)
	}
	return nil
}

func readPair(certFile, keyFile string) (KeyPair, error) {
	c, err := os.ReadFile(certFile)
	if err != nil {
		return KeyPair{}, err
	}
	k, err := os.ReadFile(keyFile)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Cert: c, Key: k}, nil
}

func parse(p KeyPair) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode(p.Cert)
	kb, _ := pem.Decode(p.Key)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !bytes.Equal(mustPKIX(signer.Public()), mustPKIX(cert.PublicKey)) {
		return nil, nil, fmt.Errorf("key does not match certificate")
	}
	return cert, signer, nil
}

func mustPKIX(pub any) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return der
}
